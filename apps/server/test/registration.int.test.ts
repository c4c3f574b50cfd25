import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { count, eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role, User } from '@phos/shared';
import { outbox } from '../src/outbox/schema.js';
import { Worker } from 'bullmq';
import { processRegistration, REGISTRATIONS_QUEUE, startRegistrationWorker } from '../src/jobs/registrations.js';
import { redisOptions } from '../src/redis/connection.js';
import { startEmbeddedRedis } from '../src/redis/embedded.js';
import { silentLogger } from '../src/trpc/context.js';
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { startPhos } from '../src/app.js';
import { users } from '../src/identity/schema.js';
import {
  callerFor,
  createStaff,
  deleteRedisKeys,
  eventually,
  freshDatabase,
  patientCountsFor,
  patientInput,
  registrationIdOf,
  startTestPhos,
  type TestPhos,
  usesPostgres,
  within,
} from './support.js';

async function jobCompleted(phos: TestPhos, registrationId: string): Promise<boolean> {
  return (await phos.queue.getJobState(registrationId)) === 'completed';
}

describe('registration pipeline', () => {
  let phos: TestPhos;
  let admin: User;

  beforeAll(async () => {
    phos = await startTestPhos();
    admin = await createStaff(phos, 'Admin', {
      email: 'first-admin@example.com',
      password: 'admin-password-123',
      firstName: 'Ada',
      lastName: 'Admin',
    });
  });
  afterAll(() => phos.cleanup());

  it('turns a Patient registration into exactly one patient and one queue entry', async () => {
    const { user } = await callerFor(phos).auth.register(patientInput({ firstName: 'Grace', lastName: 'Hopper' }));
    const registrationId = await registrationIdOf(phos, user.id);
    await eventually(() => jobCompleted(phos, registrationId));

    expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 1, entries: 1 });
    const { entries } = await callerFor(phos, admin).queue.list();
    expect(entries.filter((entry) => entry.lastName === 'Hopper')).toHaveLength(1);
    const [sent] = await phos.services.db.select().from(outbox).where(eq(outbox.id, registrationId));
    expect(sent?.sentAt).toBeInstanceOf(Date);
  });

  it.each<Role>(['Provider', 'Admin'])('gives a %s account no patient and no queue entry', async (role) => {
    const { user } = await callerFor(phos, admin).admin.createUser({ ...patientInput(), role });
    const registrationId = await registrationIdOf(phos, user.id);
    await eventually(() => jobCompleted(phos, registrationId));
    expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 0, entries: 0 });
  });

  it('gives a Patient account created by an Admin its patient', async () => {
    const { user } = await callerFor(phos, admin).admin.createUser({ ...patientInput(), role: 'Patient' });
    await eventually(async () => (await patientCountsFor(phos, user.id)).entries === 1);
    expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 1, entries: 1 });
  });

  it('gives one patient when the same job is processed twice', async () => {
    const { user } = await callerFor(phos).auth.register(patientInput());
    const registrationId = await registrationIdOf(phos, user.id);
    await eventually(() => jobCompleted(phos, registrationId));

    const deps = { db: phos.services.db, log: silentLogger, announce: () => Promise.resolve() };
    expect(await processRegistration(deps, 'user.registered', { registrationId })).toBe('already-processed');
    const [first, second] = await Promise.all([
      processRegistration(deps, 'user.registered', { registrationId }),
      processRegistration(deps, 'user.registered', { registrationId }),
    ]);
    expect([first, second]).toEqual(['already-processed', 'already-processed']);
    expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 1, entries: 1 });
  });

  it('gives one patient when the relay delivers the same registration twice', async () => {
    await phos.relay.stop();
    try {
      const { user } = await callerFor(phos).auth.register(patientInput());
      const registrationId = await registrationIdOf(phos, user.id);
      // Two relay passes racing, as two api instances would after a crash mid-delivery.
      await Promise.all([phos.relay.kick(), phos.relay.kick()]);
      await phos.services.db.update(outbox).set({ sentAt: null }).where(eq(outbox.id, registrationId));
      await phos.relay.kick();
      await eventually(() => jobCompleted(phos, registrationId));
      expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 1, entries: 1 });
    } finally {
      phos.relay.start();
    }
  });

  it('rejects a job whose registration is not in the outbox without retrying it', async () => {
    const deps = { db: phos.services.db, log: silentLogger, announce: () => Promise.resolve() };
    await expect(processRegistration(deps, 'user.registered', { registrationId: '00000000-0000-4000-8000-000000000000' })).rejects.toThrow(
      /not in the outbox/,
    );
    await expect(processRegistration(deps, 'user.registered', { registrationId: 'not-a-uuid' })).rejects.toThrow(/malformed/);
  });
});

/**
 * Phos on a Redis of its own, which `scenario` may stop and start again, and all of it torn down
 * after. Each step has its deadline, so a hang names the step.
 */
async function withOwnRedis(
  scenario: (phos: TestPhos, redis: { stop: () => Promise<void>; start: () => Promise<void> }) => Promise<void>,
  options: { log?: Logger } = {},
): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'phos-own-redis-'));
  let redis = await within('starting Redis', 20_000, startEmbeddedRedis(dir));
  const phos = await within('starting Phos', 30_000, startTestPhos({ redis: { path: redis.socketPath }, ...options }));
  try {
    await scenario(phos, {
      stop: () => within('stopping Redis', 10_000, redis.stop()),
      start: async () => {
        redis = await within('restarting Redis', 20_000, startEmbeddedRedis(dir));
      },
    });
  } finally {
    await within('closing Phos', 45_000, phos.cleanup());
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function register(phos: TestPhos, lastName: string) {
  return within('registering', 15_000, callerFor(phos).auth.register(patientInput({ lastName })));
}

describe('registration while Redis is down', () => {
  // Two Redis starts, a Phos start and a relay retry after Redis returns: generous, as it waits on conditions only.
  it('accepts the registration and creates the patient once Redis is back', { timeout: 120_000 }, async () => {
    await withOwnRedis(async (phos, redis) => {
      await redis.stop();
      const { user } = await register(phos, 'Offline');
      const registrationId = await registrationIdOf(phos, user.id);
      await within('a relay pass', 10_000, phos.relay.kick());
      const [pending] = await phos.services.db.select().from(outbox).where(eq(outbox.id, registrationId));
      expect(pending?.sentAt).toBeNull();
      expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 0, entries: 0 });

      await redis.start();
      await eventually(async () => (await patientCountsFor(phos, user.id)).entries === 1, 30_000);
      expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 1, entries: 1 });
    });
  });
});

describe("after a Redis outage longer than the workers' blocking wait", () => {
  // BullMQ's blocking connections give up on a Redis gone longer than their wait (drainDelay, 5 s)
  // and may stay parked, reconnecting, so that a worker's close never returns (taskforcesh/bullmq#4656).
  it('creates the patients registered meanwhile and after, and Phos still closes', { timeout: 120_000 }, async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    await withOwnRedis(
      async (phos, redis) => {
        await redis.stop();
        const during = await register(phos, 'During');
        await delay(8_000);
        await redis.start();
        const after = await register(phos, 'After');
        for (const { user } of [during, after]) {
          await eventually(async () => (await patientCountsFor(phos, user.id)).entries === 1, 30_000);
        }
      },
      { log },
    );
    // The outage is told once per kind of error and source: neither silence nor a line per retry
    // (the relay alone used to log each of its passes, about 50 over the outage).
    const warnings = lines.filter((line) => (line.level as number) >= 40 && !String(line.msg).startsWith('shutdown'));
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.length).toBeLessThanOrEqual(10);
    expect(warnings.filter((line) => String(line.msg).startsWith('outbox relay pass failed'))).toHaveLength(1);
  });
});

describe('the embedded Redis', () => {
  it('refuses a data directory another running process owns, and leaves that Redis running', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'phos-redis-owned-'));
    const redis = await startEmbeddedRedis(dir);
    try {
      // This process's parent stands in for another running Phos.
      writeFileSync(path.join(dir, 'owner.pid'), String(process.ppid));
      await expect(startEmbeddedRedis(dir)).rejects.toThrow(/in use by another running Phos/);
      const client = new Redis({ path: redis.socketPath });
      expect(await client.ping()).toBe('PONG');
      client.disconnect();
    } finally {
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('several processes starting on one PostgreSQL database', () => {
  // PGlite is one process per data directory by design; the race exists only on a server.
  it.runIf(usesPostgres)('migrate and create the first Admin once, without failing each other', async () => {
    const database = await freshDatabase();
    const prefix = `phos-test-${randomUUID()}`;
    const admin = { email: 'race-admin@example.com', password: 'race-admin-password' };
    const started = await Promise.allSettled(
      (['api', 'api', 'worker'] as const).map((runs) =>
        startPhos({ database: database.config, redis: inject('redisTarget'), prefix, runs, admin, log: silentLogger }),
      ),
    );
    try {
      expect(started.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      const first = started[0]?.status === 'fulfilled' ? started[0].value : undefined;
      const admins = await first!.services.db.select({ n: count() }).from(users).where(eq(users.role, 'Admin'));
      expect(admins[0]?.n).toBe(1);
    } finally {
      for (const result of started) if (result.status === 'fulfilled') await result.value.close();
      await deleteRedisKeys(inject('redisTarget'), prefix);
      await database.drop();
    }
  });
});

describe('a worker that dies mid-job', () => {
  // BullMQ notices the stall on its own clock (lock and stall checks), which a loaded machine stretches.
  it('leaves the job to another worker, which creates the patient once', { timeout: 120_000 }, async () => {
    const phos = await startTestPhos({ runs: 'api' });
    const connections: Redis[] = [];
    const connect = () => {
      const connection = new Redis({ ...redisOptions(inject('redisTarget')), maxRetriesPerRequest: null });
      connections.push(connection);
      return connection;
    };
    const stalled = { lockDuration: 1000, stalledInterval: 500 };
    const deps = { db: phos.services.db, log: silentLogger, announce: () => Promise.resolve() };
    let picked!: () => void;
    const jobPicked = new Promise<void>((resolve) => (picked = resolve));
    // Takes the job and never finishes it: a process killed mid-job, as far as BullMQ can tell.
    const doomed = new Worker(
      REGISTRATIONS_QUEUE,
      () => {
        picked();
        return new Promise(() => undefined);
      },
      { connection: connect(), prefix: phos.prefix, ...stalled },
    );
    let survivor: Worker | undefined;
    try {
      const { user } = await callerFor(phos).auth.register(patientInput({ lastName: 'Survivor' }));
      await jobPicked;
      // Dies without releasing its lock or renewing it.
      await doomed.close(true);
      expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 0, entries: 0 });

      survivor = startRegistrationWorker({ connection: connect(), prefix: phos.prefix, deps, stalled });
      await eventually(async () => (await patientCountsFor(phos, user.id)).entries === 1, 60_000);
      expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 1, entries: 1 });
    } finally {
      await survivor?.close();
      await doomed.close(true);
      for (const connection of connections) connection.disconnect();
      await phos.cleanup();
    }
  });
});
