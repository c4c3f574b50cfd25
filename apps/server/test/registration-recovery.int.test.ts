import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Worker } from 'bullmq';
import { eq, sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { outbox } from '../src/outbox/schema.js';
import { registerWalkIn } from '../src/patients/patients.js';
import { REGISTRATIONS_QUEUE, registrationLocks, startRegistrationWorker } from '../src/jobs/registrations.js';
import { reconcileRegistrations } from '../src/jobs/reconciler.js';
import { errorSerializer } from '../src/logging.js';
import { patients } from '../src/patients/schema.js';
import { queueEntries } from '../src/queue/schema.js';
import { redisOptions } from '../src/redis/connection.js';
import { createContextInner, silentLogger } from '../src/trpc/context.js';
import { createCaller } from '../src/trpc/router.js';
import {
  callerFor,
  collect,
  createStaff,
  eventually,
  patientCountsFor,
  patientInput,
  registrationIdOf,
  startTestPhos,
  type TestPhos,
} from './support.js';

/** A logger whose lines the test can read. */
function capturingLogger(): { log: Logger; lines: Record<string, unknown>[]; text: () => string } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const log = pino({ level: 'debug', serializers: { err: errorSerializer } }, sink);
  return { log, lines, text: () => lines.map((line) => JSON.stringify(line)).join('\n') };
}

async function startPhos(overrides: Parameters<typeof startTestPhos>[0] = {}): Promise<TestPhos> {
  const phos = await startTestPhos(overrides);
  onTestFinished(() => phos.cleanup());
  return phos;
}

function connect(): Redis {
  const connection = new Redis({ ...redisOptions(inject('redisTarget')), maxRetriesPerRequest: null });
  onTestFinished(() => {
    connection.disconnect();
  });
  return connection;
}

/** A worker that takes one job and never finishes it, then dies without releasing its lock. */
function doomedWorker(prefix: string) {
  let picked!: () => void;
  const pickedJob = new Promise<void>((resolve) => (picked = resolve));
  const worker = new Worker(
    REGISTRATIONS_QUEUE,
    () => {
      picked();
      return new Promise(() => undefined);
    },
    { connection: connect(), prefix, ...registrationLocks },
  );
  onTestFinished(() => worker.close(true));
  return { pickedJob, die: () => worker.close(true) };
}

describe('a job whose worker dies', () => {
  it('runs again within 10 s each time, and a second death is an ordinary retry, not a failure', { timeout: 90_000 }, async () => {
    const phos = await startPhos({ runs: 'api' });
    const { user } = await callerFor(phos).auth.register(patientInput({ lastName: 'Twicestalled' }));
    const registrationId = await registrationIdOf(phos, user.id);

    const first = doomedWorker(phos.prefix);
    await first.pickedJob;
    await first.die();
    let diedAt = Date.now();

    const second = doomedWorker(phos.prefix);
    await second.pickedJob;
    const firstRecovery = Date.now() - diedAt;
    await second.die();
    diedAt = Date.now();

    const deps = { db: phos.services.db, log: silentLogger, announce: () => Promise.resolve() };
    const survivor = startRegistrationWorker({ connection: connect(), prefix: phos.prefix, deps });
    onTestFinished(() => survivor.close());
    await eventually(async () => (await patientCountsFor(phos, user.id)).entries === 1, 30_000);
    const secondRecovery = Date.now() - diedAt;

    expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 1, entries: 1 });
    const job = await phos.queue.getJob(registrationId);
    expect(await job?.getState()).toBe('completed');
    expect(job?.stalledCounter).toBe(2);
    // lockDuration + stalledInterval is the bound; both are in registrationLocks.
    expect(firstRecovery).toBeLessThan(10_000);
    expect(secondRecovery).toBeLessThan(10_000);
  });
});

describe('a job that cannot be processed', () => {
  it('fails at once, and says so at error level with its id and code', async () => {
    const capture = capturingLogger();
    const phos = await startPhos({ log: capture.log });
    const jobId = randomUUID();
    await phos.queue.add('user.registered', { registrationId: jobId }, { jobId });

    const failure = await eventually(() => Promise.resolve(capture.lines.find((line) => line.level === 50 && line.jobId === jobId)));
    expect(failure).toMatchObject({
      msg: 'registration job failed for good',
      job: 'user.registered',
      attempts: 1,
      code: 'UnrecoverableError',
    });
    expect(await phos.queue.getJobState(jobId)).toBe('failed');
  });
});

describe('a job that fails on a database error', () => {
  it('keeps no name, date of birth or email in Redis or in the log', async () => {
    const capture = capturingLogger();
    const phos = await startPhos({ log: capture.log });
    // A constraint of this test's own database makes the worker's insert fail with the values in hand.
    await phos.services.db.execute(
      sql.raw(`alter table patients add constraint test_refuses_this_patient check (last_name <> 'Quillfeatherstone')`),
    );
    const person = {
      firstName: 'Zephyrine',
      lastName: 'Quillfeatherstone',
      dateOfBirth: '1971-03-14',
      email: 'zephyrine.quill@example.com',
    };
    const { user } = await callerFor(phos).auth.register(patientInput(person));
    const registrationId = await registrationIdOf(phos, user.id);

    await eventually(async () => ((await phos.queue.getJob(registrationId))?.attemptsMade ?? 0) >= 1, 20_000);
    const redis = connect();
    const stored = await redis.hgetall(`${phos.prefix}:${REGISTRATIONS_QUEUE}:${registrationId}`);
    expect(stored.failedReason).toContain('23514');
    expect(stored.failedReason).toContain('test_refuses_this_patient');
    expect(stored.stacktrace).toContain('23514');
    expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 0, entries: 0 });

    const everything = `${JSON.stringify(stored)}\n${capture.text()}`;
    for (const secret of [person.firstName, person.lastName, person.dateOfBirth, person.email]) {
      expect(everything).not.toContain(secret);
    }
  });
});

describe('the registration reconciler', () => {
  // Its own Phos, a paused worker and a reconcile pass: once took 60 s on a loaded machine.
  it('re-delivers a sent registration whose job Redis lost, and it becomes exactly one patient', { timeout: 90_000 }, async () => {
    const capture = capturingLogger();
    const phos = await startPhos({ log: capture.log, reconcileIntervalMs: 300, reconcileGraceMs: 0 });
    const worker = phos.worker!;
    await worker.pause();
    const { user } = await callerFor(phos).auth.register(patientInput({ lastName: 'Lostjob' }));
    const registrationId = await registrationIdOf(phos, user.id);
    await eventually(async () => (await phos.queue.getJobState(registrationId)) === 'waiting');
    await phos.queue.remove(registrationId);
    await worker.resume();

    await eventually(async () => (await patientCountsFor(phos, user.id)).entries === 1, 20_000);
    expect(capture.lines.filter((line) => line.level === 40 && line.registrationId === registrationId)).toHaveLength(1);
    expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 1, entries: 1 });
  });

  // Four pipeline round trips on one Phos of its own: it took 36 s once on a loaded machine.
  it(
    're-delivers a registration whose job failed for good, with its data mended, and leaves live and finished ones alone',
    { timeout: 90_000 },
    async () => {
      const phos = await startPhos({ reconcileGraceMs: 3_600_000 });
      const deps = { db: phos.services.db, registrations: phos.queue, log: silentLogger, graceMs: 0 };
      const worker = phos.worker!;
      await worker.pause();
      const { user } = await callerFor(phos).auth.register(patientInput({ lastName: 'Failedjob' }));
      const registrationId = await registrationIdOf(phos, user.id);
      await eventually(async () => (await phos.queue.getJobState(registrationId)) === 'waiting');
      expect(await reconcileRegistrations(deps)).toBe(0);

      // The job's data is broken: it fails at once, unrecoverable, its id still the registration's.
      await phos.queue.remove(registrationId);
      await phos.queue.add('user.registered', { registrationId: 'not-a-uuid' }, { jobId: registrationId });
      await worker.resume();
      await eventually(async () => (await phos.queue.getJobState(registrationId)) === 'failed');
      expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 0, entries: 0 });

      expect(await reconcileRegistrations(deps)).toBe(1);
      await eventually(async () => (await patientCountsFor(phos, user.id)).entries === 1, 20_000);
      await eventually(async () => (await phos.queue.getJobState(registrationId)) === 'completed');
      expect(await reconcileRegistrations(deps)).toBe(0);
      expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 1, entries: 1 });

      // A Provider gets no patient, and that is no reason to re-deliver, even with its job gone.
      const provider = await createStaff(phos);
      const providerRegistration = await registrationIdOf(phos, provider.id);
      await eventually(async () => (await phos.queue.getJobState(providerRegistration)) === 'completed');
      await phos.queue.remove(providerRegistration);
      expect(await reconcileRegistrations(deps)).toBe(0);
    },
  );
});

describe('the registration reconciler, for walk-ins', () => {
  it('re-delivers a walk-in whose job was lost, and leaves one whose patient was already queued alone', async () => {
    const phos = await startPhos({ reconcileGraceMs: 3_600_000 });
    const deps = { db: phos.services.db, registrations: phos.queue, log: silentLogger, graceMs: 0 };
    const provider = await createStaff(phos);
    const worker = phos.worker!;
    await worker.pause();
    const { registrationId } = await callerFor(phos, provider).patients.registerWalkIn({
      firstName: 'Wanda',
      lastName: 'Lostwalkin',
      dateOfBirth: '1966-06-16',
    });
    await eventually(async () => (await phos.queue.getJobState(registrationId)) === 'waiting');
    await phos.queue.remove(registrationId);

    expect(await reconcileRegistrations(deps)).toBe(1);
    await worker.resume();
    const patient = await eventually(async () => {
      const [row] = await phos.services.db.select().from(patients).where(eq(patients.registrationId, registrationId));
      return row;
    });
    await eventually(async () => (await phos.queue.getJobState(registrationId)) === 'completed');
    expect(await phos.services.db.select().from(queueEntries).where(eq(queueEntries.patientId, patient.id))).toHaveLength(1);

    // Queued again while already waiting (a race the api's check cannot close): the job leaves
    // no entry of its own, and that is its result, not a reason to re-deliver.
    const again = await phos.services.db.transaction((tx) =>
      registerWalkIn(
        tx,
        { firstName: 'Wanda', lastName: 'Lostwalkin', dateOfBirth: '1966-06-16', existingPatientId: patient.id },
        { registeredBy: provider.id, requestId: null },
      ),
    );
    await eventually(async () => (await phos.queue.getJobState(again)) === 'completed');
    await phos.queue.remove(again);
    await phos.queue.remove(registrationId);
    expect(await reconcileRegistrations(deps)).toBe(0);
    expect(await phos.services.db.select().from(queueEntries).where(eq(queueEntries.patientId, patient.id))).toHaveLength(1);
  });
});

describe("the registrant's status", () => {
  // A live wait for the delayed flag, then the worker resumed: 90 s for a loaded host.
  it(
    'says when the registration is taking longer than usual, live, and stops saying it once the patient exists',
    { timeout: 90_000 },
    async () => {
      const phos = await startPhos();
      const worker = phos.worker!;
      await worker.pause();
      const { user } = await callerFor(phos).auth.register(patientInput({ lastName: 'Slowpath' }));
      const registrationId = await registrationIdOf(phos, user.id);
      const mine = callerFor(phos, user);
      expect(await mine.registrant.status()).toEqual({ state: 'pending', delayed: false });
      expect(await mine.visit.mine()).toMatchObject({ stage: 'received', delayed: false });

      // Committed 29 s ago: a subscriber open now must hear it turn delayed a second later, with no event to wake it.
      await phos.services.db
        .update(outbox)
        .set({ createdAt: new Date(Date.now() - 29_000) })
        .where(eq(outbox.id, registrationId));
      const controller = new AbortController();
      const stream = await createCaller(createContextInner({ services: phos.services, user }), {
        signal: controller.signal,
      }).visit.onMine();
      const seen = collect(stream, { signal: controller.signal });
      try {
        await seen.waitFor((visits) => visits.some((visit) => visit.delayed === true));
        expect(seen.received.map((visit) => [visit.stage, visit.delayed])).toEqual([
          ['received', false],
          ['received', true],
        ]);
        expect(await mine.registrant.status()).toEqual({ state: 'pending', delayed: true });
        expect(await mine.visit.mine()).toMatchObject({ stage: 'received', delayed: true });

        await worker.resume();
        await seen.waitFor((visits) => visits.some((visit) => visit.stage === 'waiting'));
        expect(seen.received.at(-1)?.delayed).toBeUndefined();
        expect(await mine.registrant.status()).toEqual({ state: 'ready', patientId: seen.received.at(-1)?.patientId });
      } finally {
        controller.abort();
        await seen.ended;
      }
    },
  );
});
