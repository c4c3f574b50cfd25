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

export function connectPostgres(
  url: string,
  options: { max?: number; onConnectionLost?: (error: Error) => void } = {},
): Database {
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, connectionTimeoutMillis: 5000 });
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
    migrate: () => migratePg(drizzlePg(pool), { migrationsFolder }),
    async withStartupLock(work) {
      const client = await pool.connect();
      try {
        await client.query('select pg_advisory_lock($1)', [STARTUP_LOCK]);
        return await work();
      } finally {
        await client.query('select pg_advisory_unlock($1)', [STARTUP_LOCK]).catch(() => undefined);
        client.release();
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
