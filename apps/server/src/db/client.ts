import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import { ensurePrivateDir, makeTreePrivate } from '../data-dir.js';

/** The query builder every module uses; a transaction (`tx`) has the same type. */
export type Db = PgDatabase<PgQueryResultHKT>;

export interface Database {
  db: Db;
  kind: 'postgres' | 'pglite';
  migrate(): Promise<void>;
  /**
   * Runs start-up work (migrations, bootstrap) while holding a lock that other processes starting
   * on the same database wait for, so they do not race each other.
   */
  withStartupLock<T>(work: () => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** An arbitrary advisory-lock key, the same for every Phos process. */
const STARTUP_LOCK = 7_265_401_337;

export const migrationsFolder = fileURLToPath(new URL('../../../../drizzle', import.meta.url));

/** How long the server lets one statement run, and a transaction sit idle between statements. */
export interface DatabaseTimeouts {
  statementMs: number;
  idleInTransactionMs: number;
}

export const defaultDatabaseTimeouts: DatabaseTimeouts = { statementMs: 10_000, idleInTransactionMs: 15_000 };

/**
 * SQLSTATEs that mean "the database was busy, try again": a statement or lock wait that ran out
 * of time (57014, 55P03), or a transaction the server ended for idling (25P03).
 */
const busyStates = new Set(['57014', '55P03', '25P03']);

/** True for a timeout-class database error, whether raw or wrapped by drizzle as the query's cause. */
export function isDatabaseBusy(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    const { code } = current as { code?: unknown };
    if (typeof code === 'string' && busyStates.has(code)) return true;
    // node-postgres's own query_timeout, should the server not answer at all.
    if (current.message === 'Query read timeout') return true;
  }
  return false;
}

/**
 * SQLSTATEs of data the database refuses whatever the moment: a value out of range or malformed
 * (class 22), a not-null or check constraint (23502, 23514). Running the same work again fails
 * the same way until someone changes the data or the rule. A unique or foreign-key violation is
 * not here: a concurrent writer can cause it, and the next attempt sees the other's row.
 */
function isRefusedState(code: string): boolean {
  return code.startsWith('22') || code === '23502' || code === '23514';
}

/** True for a database error that retrying cannot fix, whether raw or wrapped by drizzle as the query's cause. */
export function isRefusedByDatabase(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    const { code } = current as { code?: unknown };
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && isRefusedState(code)) return true;
  }
  return false;
}

/**
 * SQLSTATEs of a server that went away or would not take the connection: an administrator or a
 * crash ended the session (57P01–57P03), a connection exception (class 08), or no slots (53300).
 */
const unavailableStates = new Set(['57P01', '57P02', '57P03', '53300']);
const unavailableSocketErrors = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** node-postgres's own words for a lost or unobtainable connection. */
const unavailableMessages = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /is not queryable$/,
  /^Cannot use a pool after calling end on the pool$/,
];

/**
 * True when the database could not be reached or the connection dropped mid-call (a restart, a
 * failover, pg_terminate_backend), raw or wrapped by drizzle: the caller may try again shortly.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    const { code } = current as { code?: unknown };
    if (typeof code === 'string' && (unavailableStates.has(code) || code.startsWith('08') || unavailableSocketErrors.has(code)))
      return true;
    if (unavailableMessages.some((pattern) => pattern.test(current.message))) return true;
    if (current instanceof AggregateError && current.errors.some((inner) => isDatabaseUnavailable(inner))) return true;
  }
  return false;
}

export function connectPostgres(
  url: string,
  options: { max?: number; onConnectionLost?: (error: Error) => void; timeouts?: DatabaseTimeouts } = {},
): Database {
  const timeouts = options.timeouts ?? defaultDatabaseTimeouts;
  // Sent as startup parameters, so every connection has them from its first statement: no query
  // and no transaction holds a connection (or a lock) for longer. query_timeout is the client's
  // own backstop, for a server that stops answering altogether.
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: 5000,
    statement_timeout: timeouts.statementMs,
    idle_in_transaction_session_timeout: timeouts.idleInTransactionMs,
    query_timeout: timeouts.statementMs + 2_000,
  });
  const lost = (error: Error) => options.onConnectionLost?.(error);
  // A client losing its server (a restart, pg_terminate_backend: 57P01) emits 'error', and an
  // 'error' nobody listens to ends the process. The pool listens only while a client is idle; a
  // client that is checked out (a transaction between statements) needs its own listener. Its
  // work fails with the error, the pool discards it on release, and the next query reconnects.
  pool.on('connect', (client) => client.on('error', lost));
  pool.on('error', () => undefined); // the same errors, already reported by the client's own listener
  const db = drizzlePg(pool) as unknown as Db;
  return {
    db,
    kind: 'postgres',
    // Migrations may rightly run longer than any request: their own connection, no timeouts.
    async migrate() {
      const migrator = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 5000 });
      migrator.on('error', () => undefined);
      try {
        await migratePg(drizzlePg(migrator), { migrationsFolder });
      } finally {
        await migrator.end();
      }
    },
    // Another process may hold the lock through a long migration: wait it out, on a connection
    // of its own without the pool's timeouts.
    async withStartupLock(work) {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
      client.on('error', lost);
      await client.connect();
      try {
        await client.query('select pg_advisory_lock($1)', [STARTUP_LOCK]);
        return await work();
      } finally {
        await client.query('select pg_advisory_unlock($1)', [STARTUP_LOCK]).catch(() => undefined);
        await client.end().catch(() => undefined);
      }
    },
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    close: () => pool.end(),
  };
}

/** PGlite: real Postgres in WASM, one connection, one process per data directory. */
export function connectPglite(dataDir: string | undefined): Database {
  // Its files hold health data and password hashes: the directory is the owner's alone.
  if (dataDir !== undefined) ensurePrivateDir(path.resolve(dataDir));
  // PGlite writes its files 0666 whatever the umask: the 0700 directory guards them while it
  // runs, and they are made the owner's alone once it has started and again when it stops.
  const tighten = () => {
    if (dataDir !== undefined) makeTreePrivate(path.resolve(dataDir));
  };
  const client = new PGlite(dataDir);
  const db = drizzlePglite(client) as unknown as Db;
  return {
    db,
    kind: 'pglite',
    migrate: async () => {
      await migratePglite(drizzlePglite(client), { migrationsFolder });
      tighten();
    },
    // PGlite allows one process per data directory: there is nobody to race.
    withStartupLock: (work) => work(),
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    close: async () => {
      await client.close();
      tighten();
    },
  };
}
