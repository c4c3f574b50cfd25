import { count, eq, sql } from 'drizzle-orm';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { User } from '@phos/shared';
import type { PhosConfig } from '../src/app.js';
import { isDatabaseBusy } from '../src/db/client.js';
import { patients } from '../src/patients/schema.js';
import {
  callerFor,
  createStaff,
  eventually,
  patientInput,
  queueDirectly,
  startTestPhos,
  type TestPhos,
  trpcError,
  usesPostgres,
} from './support.js';

async function phosWith(overrides: Partial<PhosConfig>): Promise<{ phos: TestPhos; provider: User; name: string }> {
  const phos = await startTestPhos({ signInLimits: { registrationsPerAddress: 1000 }, ...overrides });
  onTestFinished(() => phos.cleanup());
  const provider = await createStaff(phos, 'Provider', { lastName: 'Provider' });
  const [row] = await phos.services.db.select({ name: sql<string>`current_database()` }).from(sql`(select 1) as one`);
  return { phos, provider, name: row?.name ?? '' };
}

/** A client of the test's own, outside Phos's pools, on Phos's database. */
async function outsider(name: string): Promise<pg.Client> {
  const url = new URL(process.env.DATABASE_URL ?? '');
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  onTestFinished(() => client.end());
  return client;
}

/** Every failed attempt of a registration job, by job id, with its (redacted) message. */
function failedAttempts(phos: TestPhos): { jobId: string | undefined; message: string }[] {
  const seen: { jobId: string | undefined; message: string }[] = [];
  phos.worker?.on('failed', (job, error) => seen.push({ jobId: job?.id, message: error.message }));
  return seen;
}

async function patientsOf(phos: TestPhos, userId: string): Promise<number> {
  const [row] = await phos.services.db.select({ n: count() }).from(patients).where(eq(patients.userId, userId));
  return row?.n ?? 0;
}

// These need a real server: PGlite is one in-process connection, so nothing can hold a lock
// against it, and it has no statement or session timeouts to enforce.
describe('nothing waits forever', () => {
  it.runIf(usesPostgres)(
    'a held event counter lock: a staff mutation fails fast with BUSY, a job is retried, both succeed once it ends',
    { timeout: 90_000 },
    async () => {
      const { phos, provider, name } = await phosWith({ databaseTimeouts: { statementMs: 20_000, idleInTransactionMs: 20_000 } });
      const failed = failedAttempts(phos);
      const entry = await queueDirectly(phos, { lastName: 'Waiting' });

      const blocker = await outsider(name);
      await blocker.query('begin');
      await blocker.query(`update event_streams set last_id = last_id where stream = 'clinic'`);

      const started = Date.now();
      const error = await trpcError(
        callerFor(phos, provider).queue.transition({ entryId: entry.id, expectedVersion: entry.version, to: 'in_triage' }),
      );
      // lock_timeout is 2 s; the statement timeout (20 s) never came into it.
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(error.code).toBe('SERVICE_UNAVAILABLE');
      expect(error.message).toBe("The clinic's records are busy; try again");
      expect((error.cause as { appCode?: string } | undefined)?.appCode).toBe('BUSY');

      const { user } = await callerFor(phos).auth.register(patientInput({ lastName: 'Blocked' }));
      // The job's append gave up on the lock (55P03) rather than hold its worker slot.
      await eventually(() => Promise.resolve(failed.some((attempt) => attempt.message.includes('55P03'))), 30_000);
      expect(await patientsOf(phos, user.id)).toBe(0);

      await blocker.query('rollback');
      const moved = await callerFor(phos, provider).queue.transition({
        entryId: entry.id,
        expectedVersion: entry.version,
        to: 'in_triage',
      });
      expect(moved.entry.status).toBe('in_triage');
      await eventually(async () => (await patientsOf(phos, user.id)) === 1, 60_000);
      expect(await patientsOf(phos, user.id)).toBe(1);
    },
  );

  it.runIf(usesPostgres)('cancels a statement that runs past the statement timeout, and keeps working', { timeout: 60_000 }, async () => {
    const { phos } = await phosWith({ databaseTimeouts: { statementMs: 1_000, idleInTransactionMs: 5_000 } });
    const { db } = phos.services;
    const started = Date.now();
    const slow = await db.execute(sql`select pg_sleep(30)`).then(
      () => null,
      (error: unknown) => error,
    );
    expect(isDatabaseBusy(slow)).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
    await expect(db.execute(sql`select 1 as one`)).resolves.toBeDefined();
    // The workers' pool has the same limit.
    await expect(phos.workerDatabase.db.execute(sql`select pg_sleep(30)`)).rejects.toSatisfy(isDatabaseBusy);
  });

  it.runIf(usesPostgres)('ends a transaction left idle past its timeout, and the pool recovers', { timeout: 60_000 }, async () => {
    const { phos, provider, name } = await phosWith({ databaseTimeouts: { statementMs: 5_000, idleInTransactionMs: 1_000 } });
    const watcher = await outsider(name);
    const { db } = phos.services;
    const abandoned = db.transaction(async (tx) => {
      const [row] = await tx.select({ pid: sql<number>`pg_backend_pid()` }).from(sql`(select 1) as one`);
      const pid = row?.pid;
      // Idle in the transaction until the server has ended the session.
      await eventually(async () => (await watcher.query('select 1 from pg_stat_activity where pid = $1', [pid])).rowCount === 0, 30_000);
      await tx.execute(sql`select 1`);
    });
    await expect(abandoned).rejects.toThrow();
    const entry = await queueDirectly(phos, { lastName: 'After' });
    const moved = await callerFor(phos, provider).queue.transition({ entryId: entry.id, expectedVersion: entry.version, to: 'in_triage' });
    expect(moved.entry.status).toBe('in_triage');
  });

  it.runIf(usesPostgres)('serves staff from their own pool while every worker connection is taken', { timeout: 60_000 }, async () => {
    const { phos, provider } = await phosWith({
      workerConcurrency: 2,
      databaseTimeouts: { statementMs: 20_000, idleInTransactionMs: 20_000 },
    });
    const workerDb = phos.workerDatabase.db;
    expect(phos.workerDatabase).not.toBe(phos.database);
    const entry = await queueDirectly(phos, { lastName: 'Staff' });

    // The workers' pool holds concurrency + 4 = 6 connections: hold them all.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let holding = 0;
    const holders = Array.from({ length: 6 }, () =>
      workerDb.transaction(async (tx) => {
        await tx.execute(sql`select 1`);
        holding += 1;
        await gate;
      }),
    );
    onTestFinished(async () => {
      release();
      await Promise.allSettled(holders);
    });
    await eventually(() => Promise.resolve(holding === 6), 20_000);
    let queuedSettled = false;
    const queuedOnWorkers = workerDb.execute(sql`select 1`).finally(() => (queuedSettled = true));

    const started = Date.now();
    const moved = await callerFor(phos, provider).queue.transition({ entryId: entry.id, expectedVersion: entry.version, to: 'in_triage' });
    expect(moved.entry.status).toBe('in_triage');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(queuedSettled).toBe(false);

    release();
    await Promise.all(holders);
    await queuedOnWorkers;
  });

  it.runIf(usesPostgres)(
    'fails a hanging job attempt at the job timeout and completes it on a later one',
    { timeout: 90_000 },
    async () => {
      const { phos, name } = await phosWith({
        jobTimeoutMs: 1_500,
        databaseTimeouts: { statementMs: 30_000, idleInTransactionMs: 30_000 },
      });
      const failed = failedAttempts(phos);
      const blocker = await outsider(name);
      await blocker.query('begin');
      // Reads go on; the patient insert waits, far below the statement timeout.
      await blocker.query('lock table patients in exclusive mode');

      const { user } = await callerFor(phos).auth.register(patientInput({ lastName: 'Hanging' }));
      await eventually(() => Promise.resolve(failed.some((attempt) => attempt.message.includes('timed out'))), 30_000);
      expect(await patientsOf(phos, user.id)).toBe(0);

      await blocker.query('rollback');
      await eventually(async () => (await patientsOf(phos, user.id)) === 1, 30_000);
      expect(await patientsOf(phos, user.id)).toBe(1);
    },
  );
});
