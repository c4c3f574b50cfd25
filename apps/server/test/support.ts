import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import pg from 'pg';
import pino from 'pino';
import { isTrackedEnvelope, TRPCError, type TrackedEnvelope } from '@trpc/server';
import { count, eq, sql } from 'drizzle-orm';
import { inject } from 'vitest';
import type { QueueEntry, Role, User } from '@phos/shared';
import { startPhos, type Phos, type PhosConfig } from '../src/app.js';
import { commitAndAnnounce } from '../src/events/log.js';
import { createUser } from '../src/identity/users.js';
import { outbox } from '../src/outbox/schema.js';
import { patients } from '../src/patients/schema.js';
import { queueEntries } from '../src/queue/schema.js';
import { addToQueue } from '../src/queue/transitions.js';
import { redisOptions, type RedisTarget } from '../src/redis/connection.js';
import { createContextInner, type SessionCookie } from '../src/trpc/context.js';
import { createCaller } from '../src/trpc/router.js';

/** The PostgreSQL server to test against; PGlite in memory when unset. */
const postgresUrl = process.env.DATABASE_URL;
export const usesPostgres = postgresUrl !== undefined && postgresUrl !== '';

async function adminQuery(sqlText: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query(sqlText);
  } finally {
    await client.end();
  }
}

/** A fresh database: its own PostgreSQL database, or a new in-memory PGlite. */
export async function freshDatabase(): Promise<{ config: PhosConfig['database']; drop: () => Promise<void> }> {
  if (!postgresUrl) return { config: { pgliteDir: undefined }, drop: () => Promise.resolve() };
  const name = `phos_test_${randomUUID().replaceAll('-', '')}`;
  await adminQuery(`create database ${name}`);
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    config: { url: url.toString() },
    drop: () => adminQuery(`drop database if exists ${name} with (force)`),
  };
}

export async function deleteRedisKeys(target: RedisTarget, prefix: string): Promise<void> {
  const redis = new Redis({ ...redisOptions(target), maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * Starts Phos on its own database and Redis prefix, torn down when the calling test (or, from a
 * `beforeAll`, the file) finishes.
 */
/** Silent but for a shutdown step that hangs, so a test whose cleanup times out says which step. */
const shutdownReporter = pino(
  { level: 'warn' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (chunk.includes('"msg":"shutdown step')) process.stderr.write(chunk);
      done();
    },
  }),
);

export async function startTestPhos(overrides: Partial<PhosConfig> = {}): Promise<Phos & { prefix: string; cleanup: () => Promise<void> }> {
  const database = await freshDatabase();
  const redis = overrides.redis ?? inject('redisTarget');
  const prefix = `phos-test-${randomUUID()}`;
  const phos = await startPhos({
    database: database.config,
    redis,
    prefix,
    runs: 'all',
    log: shutdownReporter,
    relayIntervalMs: 200,
    hubSafetyIntervalMs: 500,
    ...overrides,
  });
  const cleanup = async () => {
    await phos.close();
    if (!('embeddedDir' in redis)) await deleteRedisKeys(redis, prefix).catch(() => undefined);
    await database.drop();
  };
  return { ...phos, prefix, cleanup };
}

export interface RecordingCookie extends SessionCookie {
  token: string | null;
}

export function recordingCookie(): RecordingCookie {
  const cookie: RecordingCookie = {
    token: null,
    set(token) {
      cookie.token = token;
    },
    clear() {
      cookie.token = null;
    },
  };
  return cookie;
}

export function callerFor(phos: Phos, user: User | null = null, sessionCookie?: SessionCookie) {
  return createCaller(createContextInner({ services: phos.services, user, sessionCookie }));
}

/** The text of every statement `phos`'s database client is sent until `restore()`, as they are sent. */
export function recordStatements(phos: Phos): { sent: string[]; restore: () => void } {
  const client = (phos.services.db as unknown as { $client: { query: (...args: unknown[]) => Promise<unknown> } }).$client;
  const original = client.query;
  const sent: string[] = [];
  client.query = function (this: unknown, ...args: unknown[]) {
    const [query] = args;
    sent.push(typeof query === 'string' ? query : ((query as { text?: string } | undefined)?.text ?? ''));
    return original.apply(this, args);
  };
  return {
    sent,
    restore: () => {
      client.query = original;
    },
  };
}

/**
 * `work`, or a failure naming `step` after `timeoutMs`: a test whose steps each have a deadline
 * says which one hung, where a test timeout says only that something did.
 */
export async function within<T>(step: string, timeoutMs: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${step}: not done within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls until `check` returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

type PersonInput = Partial<{ email: string; firstName: string; lastName: string; dateOfBirth: string; password: string }>;

let counter = 0;
export function patientInput(overrides: PersonInput = {}) {
  counter += 1;
  return {
    email: `patient-${counter}-${randomUUID().slice(0, 8)}@example.com`,
    password: 'correct-horse-battery',
    firstName: 'Ada',
    lastName: `Lovelace${counter}`,
    dateOfBirth: '1985-12-10',
    ...overrides,
  };
}

/** The password every account from `createStaff` and `createPatient` has, unless overridden. */
export const TEST_PASSWORD = 'correct-horse-battery-staple';

/**
 * A staff account made directly in identity, as the first Admin or an admin's "add account" would make it: no
 * sign-in, no audit row. Its fields come from `patientInput`, so names never collide across tests.
 */
export async function createStaff(phos: Phos, role: Exclude<Role, 'Patient'> = 'Provider', overrides: PersonInput = {}): Promise<User> {
  const { user } = await createUser(phos.services.db, { ...patientInput({ password: TEST_PASSWORD, ...overrides }), role });
  return user;
}

/** A Patient account made directly in identity; the worker gives it a patient record and a queue entry as for anyone registering. */
export async function createPatient(phos: Phos, overrides: PersonInput = {}): Promise<User> {
  const { user } = await createUser(phos.services.db, { ...patientInput({ password: TEST_PASSWORD, ...overrides }), role: 'Patient' });
  return user;
}

/**
 * A direct caller yields a `tracked()` event as the raw envelope, while its type (like an HTTP client's value)
 * says `{ id, data }`: this makes the value what the type says.
 */
type Collected<T> = T extends TrackedEnvelope<infer Data> ? { id: string; data: Data } : T;

export interface Collection<T> {
  /** Everything the stream yielded so far, in order; it grows as the stream yields. */
  readonly received: T[];
  /** Waits until `check(received)` holds and answers what arrived so far; fails after `timeoutMs` or if the stream failed. */
  waitFor(check: (received: readonly T[]) => boolean, timeoutMs?: number): Promise<T[]>;
  /** Settles with everything received once the stream ends, `until` holds, or `signal` aborts; rejects if the stream failed otherwise. */
  readonly ended: Promise<T[]>;
}

/**
 * Reads a subscription in the background into `received`, so a test can act and then wait for what it expects.
 * It stops once `until(received)` holds, or when `signal` aborts: pass the signal the caller was created with,
 * so that aborting it both ends the server's stream and settles `ended` without an error.
 */
export function collect<T>(
  stream: AsyncIterable<T>,
  options: { until?: (received: readonly Collected<T>[]) => boolean; signal?: AbortSignal } = {},
): Collection<Collected<T>> {
  const received: Collected<T>[] = [];
  let failure: { error: unknown } | undefined;
  let finished = false;
  let wake: () => void = () => undefined;
  const ended = (async () => {
    try {
      for await (const value of stream) {
        received.push((isTrackedEnvelope(value) ? { id: value[0], data: value[1] } : value) as Collected<T>);
        wake();
        if (options.until?.(received)) break;
      }
    } catch (error) {
      if (!options.signal?.aborted) {
        failure = { error };
        throw error;
      }
    } finally {
      finished = true;
      wake();
    }
    return received;
  })();
  // `waitFor` reports a failure too, so a test that only waits never leaves this rejection unhandled.
  ended.catch(() => undefined);
  return {
    received,
    ended,
    async waitFor(check, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (check(received)) return received;
        if (failure) throw failure.error;
        if (finished) throw new Error(`the stream ended after ${received.length} values without meeting the condition`);
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new Error(`condition not met within ${timeoutMs} ms (${received.length} values received)`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(remaining, 250));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
  };
}

/** The tRPC error a call fails with; fails the test when the call succeeds. */
export async function trpcError(promise: Promise<unknown>): Promise<TRPCError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TRPCError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/**
 * The errors several calls fail with, waited for together: calls started in one go must all have
 * a handler at once, or a later one's rejection goes unhandled while an earlier one is awaited.
 */
export function trpcErrors(calls: readonly Promise<unknown>[]): Promise<TRPCError[]> {
  return Promise.all(calls.map(trpcError));
}

/** Queues a patient directly, as the worker would, arriving `minutesAgo` minutes back, and announces it. */
export async function queueDirectly(
  phos: Phos,
  person: { lastName: string; firstName?: string; minutesAgo?: number },
): Promise<QueueEntry> {
  const { entry } = await commitAndAnnounce(phos.services, async (tx) => {
    const added = await addToQueue(tx, {
      patientId: randomUUID(),
      registrationId: randomUUID(),
      firstName: person.firstName ?? 'Test',
      lastName: person.lastName,
      dateOfBirth: '1980-05-05',
      arrivedAt: new Date(Date.now() - (person.minutesAgo ?? 0) * 60_000),
    });
    if (!added) throw new Error('not queued');
    return added;
  });
  return entry;
}

export type TestPhos = Awaited<ReturnType<typeof startTestPhos>>;

/** The outbox id (the registration id) of a user's registration. */
export async function registrationIdOf(phos: Phos, userId: string): Promise<string> {
  const [row] = await phos.services.db
    .select({ id: outbox.id })
    .from(outbox)
    .where(sql`${outbox.payload}->>'userId' = ${userId}`);
  if (!row) throw new Error(`no outbox row for user ${userId}`);
  return row.id;
}

/** How many patients and queue entries a user's registration produced: exactly one each, or none yet. */
export async function patientCountsFor(phos: Phos, userId: string) {
  const [patientCount] = await phos.services.db.select({ n: count() }).from(patients).where(eq(patients.userId, userId));
  const [entryCount] = await phos.services.db
    .select({ n: count() })
    .from(queueEntries)
    .innerJoin(patients, eq(patients.id, queueEntries.patientId))
    .where(eq(patients.userId, userId));
  return { patients: patientCount?.n ?? 0, entries: entryCount?.n ?? 0 };
}

/** A waiting queue entry as an event carries it, for a patient nobody else shares a name with. */
export function queueEntryFixture(lastName: string): QueueEntry {
  return {
    id: randomUUID(),
    patientId: randomUUID(),
    firstName: 'Test',
    lastName,
    dateOfBirth: '1970-01-01',
    status: 'waiting',
    arrivedAt: new Date().toISOString(),
    statusChangedAt: new Date().toISOString(),
    acuity: null,
    clinician: null,
    room: null,
    possibleDuplicate: false,
    version: 1,
  };
}
