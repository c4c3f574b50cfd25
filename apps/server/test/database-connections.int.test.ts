import { Writable } from 'node:stream';
import { eq, sql } from 'drizzle-orm';
import pg from 'pg';
import pino from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { patients } from '../src/patients/schema.js';
import { callerFor, eventually, patientInput, startTestPhos, usesPostgres } from './support.js';

describe('a PostgreSQL connection that drops', () => {
  // PGlite runs in this process: it has no connection to lose.
  it.runIf(usesPostgres)('fails the work on it, never the process, and later queries succeed', { timeout: 90_000 }, async () => {
    const lines: { level: number; msg: string; code?: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
        done();
      },
    });
    const phos = await startTestPhos({ log: pino({ level: 'warn' }, sink), signInLimits: { registrationsPerAddress: 1000 } });
    onTestFinished(() => phos.cleanup());
    const { db } = phos.services;
    const [row] = await db.select({ name: sql<string>`current_database()` }).from(sql`(select 1) as one`);
    const name = row?.name;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    onTestFinished(() => admin.end());
    const terminateAll = () =>
      admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
    const lost = () => lines.filter((line) => line.msg.startsWith('database connection lost')).length;

    // A transaction between two statements: its client is checked out, so the pool is not listening.
    const before = lost();
    const transaction = db.transaction(async (tx) => {
      await tx.execute(sql`select 1`);
      await terminateAll();
      await eventually(() => Promise.resolve(lost() > before));
      await tx.execute(sql`select 1`);
    });
    await expect(transaction).rejects.toThrow();
    expect(lines.find((line) => line.msg.startsWith('database connection lost'))?.code).toBe('57P01');

    // The same in the middle of registrations, with the worker's transactions under way.
    const registering = Array.from({ length: 12 }, () => callerFor(phos).auth.register(patientInput()));
    await terminateAll();
    const results = await Promise.allSettled(registering);
    await eventually(() =>
      db.execute(sql`select 1`).then(
        () => true,
        () => false,
      ),
    );

    const registered = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value.user.id] : []));
    expect(registered.length).toBeGreaterThan(0);
    for (const userId of registered) {
      await eventually(async () => (await db.select().from(patients).where(eq(patients.userId, userId))).length === 1, 60_000);
    }
  });
});
