import { randomUUID } from 'node:crypto';
import { count, eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { User } from '@phos/shared';
import { users } from '../src/identity/schema.js';
import { eventLog } from '../src/events/schema.js';
import { processRegistration, registrationProcessor } from '../src/jobs/registrations.js';
import { registerWalkIn } from '../src/patients/patients.js';
import { patients } from '../src/patients/schema.js';
import { queueEntries } from '../src/queue/schema.js';
import { silentLogger } from '../src/trpc/context.js';
import { callerFor, createStaff, eventually, patientInput, startTestPhos, type TestPhos, trpcError, trpcErrors } from './support.js';

describe('walk-ins and duplicates', () => {
  let phos: TestPhos;
  let provider: User;

  beforeAll(async () => {
    phos = await startTestPhos();
    provider = await createStaff(phos);
  });
  afterAll(() => phos.cleanup());

  const db = () => phos.services.db;

  async function patientsNamed(lastName: string) {
    return db().select().from(patients).where(eq(patients.lastName, lastName));
  }

  async function entriesOf(patientId: string) {
    return db().select().from(queueEntries).where(eq(queueEntries.patientId, patientId));
  }

  async function walkIn(input: Parameters<ReturnType<typeof callerFor>['patients']['registerWalkIn']>[0]) {
    const { registrationId } = await callerFor(phos, provider).patients.registerWalkIn(input);
    await eventually(async () => (await phos.queue.getJobState(registrationId)) === 'completed');
    return registrationId;
  }

  it('creates a patient and a queue entry through the job, with no account', async () => {
    const [before] = await db().select({ n: count() }).from(users);
    await walkIn({ firstName: 'Walter', lastName: 'Walkin', dateOfBirth: '1961-07-14', phone: '+44 20 7946 0000' });
    const [created] = await patientsNamed('Walkin');
    expect(created).toMatchObject({ userId: null, phone: '+44 20 7946 0000', email: null });
    expect(await entriesOf(created!.id)).toHaveLength(1);
    const [after] = await db().select({ n: count() }).from(users);
    expect(after?.n).toBe(before?.n);
    const { entries } = await callerFor(phos, provider).queue.list();
    expect(entries.filter((entry) => entry.lastName === 'Walkin')).toHaveLength(1);
  });

  it('gives one patient when the walk-in job runs twice', async () => {
    const registrationId = await walkIn({ firstName: 'Twice', lastName: 'Processed', dateOfBirth: '1970-01-02' });
    const deps = { db: db(), log: silentLogger, announce: () => Promise.resolve() };
    expect(await processRegistration(deps, 'walk_in.registered', { registrationId })).toBe('already-processed');
    expect(await patientsNamed('Processed')).toHaveLength(1);
  });

  it('processes walk-ins that arrive together in one transaction, and fails only the one that cannot be processed', async () => {
    const worker = phos.worker!;
    await worker.pause();
    onTestFinished(() => worker.resume());
    const person = (lastName: string) => ({ firstName: 'Batch', lastName, dateOfBirth: '1980-05-06' });
    const ids = await db().transaction(async (tx) => [
      await registerWalkIn(tx, person('Batchone'), { registeredBy: provider.id, requestId: 'request-Batchone' }),
      await registerWalkIn(tx, person('Batchtwo'), { registeredBy: provider.id, requestId: 'request-Batchtwo' }),
      // Registered by nobody Phos knows: its job cannot name the identity verifier.
      await registerWalkIn(tx, person('Batchorphan'), { registeredBy: randomUUID(), requestId: 'request-Batchorphan' }),
      await registerWalkIn(tx, person('Batchthree'), { registeredBy: provider.id, requestId: 'request-Batchthree' }),
    ]);
    const handle = registrationProcessor({ db: db(), log: silentLogger, announce: () => Promise.resolve() });
    // The first runs at once; the three that arrive while it runs are the next batch.
    const requestIds = ['request-Batchone', 'request-Batchtwo', 'request-Batchorphan', 'request-Batchthree'];
    const results = await Promise.allSettled(
      ids.map((registrationId, index) => handle('walk_in.registered', { registrationId, requestId: requestIds[index] })),
    );

    expect(results.map((result) => (result.status === 'fulfilled' ? result.value : 'failed'))).toEqual([
      'patient-created',
      'patient-created',
      'failed',
      'patient-created',
    ]);
    expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/unknown/);
    for (const lastName of ['Batchone', 'Batchtwo', 'Batchthree']) {
      const [created, ...more] = await patientsNamed(lastName);
      expect(more).toEqual([]);
      expect(await entriesOf(created!.id)).toHaveLength(1);
    }
    expect(await patientsNamed('Batchorphan')).toEqual([]);

    // One transaction for the batch: its events carry the same commit-time clock.
    const batchIds = [ids[1]!, ids[3]!];
    const batched = await db()
      .select({ occurredAt: eventLog.occurredAt, requestId: sql<string>`${eventLog.metadata}->>'requestId'`, lastName: patients.lastName })
      .from(eventLog)
      .innerJoin(patients, eq(patients.id, sql`(${eventLog.payload}->>'patientId')::uuid`))
      .where(inArray(patients.registrationId, batchIds));
    expect(batched).toHaveLength(2);
    expect(new Set(batched.map((row) => row.occurredAt.getTime())).size).toBe(1);
    // Yet each event names the request that registered its own walk-in.
    for (const row of batched) expect(row.requestId).toBe(`request-${row.lastName}`);

    // Run again, together: nothing changes.
    expect(await Promise.all(batchIds.map((registrationId) => handle('walk_in.registered', { registrationId })))).toEqual([
      'already-processed',
      'already-processed',
    ]);
    expect(await patientsNamed('Batchtwo')).toHaveLength(1);
  });

  it('finds likely existing patients by name and date of birth, ignoring case and accents, or by email', async () => {
    await walkIn({ firstName: 'José', lastName: 'Álvarez', dateOfBirth: '1975-03-09', email: 'jose@example.com' });
    const caller = callerFor(phos, provider);
    const byName = await caller.patients.findMatches({ firstName: 'jose', lastName: 'ALVAREZ', dateOfBirth: '1975-03-09' });
    expect(byName.matches.map((m) => [m.lastName, m.reasons])).toEqual([['Álvarez', ['name_and_date_of_birth']]]);
    const byEmail = await caller.patients.findMatches({
      firstName: 'Pepe',
      lastName: 'Other',
      dateOfBirth: '1980-01-01',
      email: 'JOSE@example.com',
    });
    expect(byEmail.matches.map((m) => m.reasons)).toEqual([['email']]);
    const otherBirthday = await caller.patients.findMatches({ firstName: 'José', lastName: 'Álvarez', dateOfBirth: '1975-03-10' });
    expect(otherBirthday.matches).toEqual([]);
  });

  it('queues the existing patient the staff picked instead of creating a duplicate', async () => {
    await walkIn({ firstName: 'Returning', lastName: 'Visitor', dateOfBirth: '1955-11-30' });
    const [existing] = await patientsNamed('Visitor');
    const [firstEntry] = await entriesOf(existing!.id);
    const caller = callerFor(phos, provider);

    const again = await trpcError(
      caller.patients.registerWalkIn({
        firstName: 'Returning',
        lastName: 'Visitor',
        dateOfBirth: '1955-11-30',
        existingPatientId: existing!.id,
      }),
    );
    expect(again.code).toBe('CONFLICT');

    await caller.queue.transition({ entryId: firstEntry!.id, expectedVersion: firstEntry!.version, to: 'left' });
    await walkIn({ firstName: 'Returning', lastName: 'Visitor', dateOfBirth: '1955-11-30', existingPatientId: existing!.id });
    expect(await patientsNamed('Visitor')).toHaveLength(1);
    const entries = await entriesOf(existing!.id);
    expect(entries.map((entry) => entry.status).sort()).toEqual(['left', 'waiting']);
  });

  it('flags a self-registration that looks like an existing patient for staff only', async () => {
    await walkIn({ firstName: 'Zoë', lastName: 'Duplicate', dateOfBirth: '1990-06-06' });
    const [original] = await patientsNamed('Duplicate');
    const { user } = await callerFor(phos).auth.register(
      patientInput({ firstName: 'zoe', lastName: 'duplicate', dateOfBirth: '1990-06-06' }),
    );
    const status = await eventually(async () => {
      const current = await callerFor(phos, user).registrant.status();
      return current.state === 'ready' ? current : undefined;
    });
    expect(Object.keys(status).sort()).toEqual(['patientId', 'state']);

    const own = await callerFor(phos, user).patients.byId({ id: status.patientId! });
    expect(own.possibleDuplicateOf).toBeNull();
    const staffView = await callerFor(phos, provider).patients.byId({ id: status.patientId! });
    expect(staffView.possibleDuplicateOf).toBe(original!.id);
    const { entries } = await callerFor(phos, provider).queue.list();
    const flagged = entries.find((entry) => entry.patientId === status.patientId);
    expect(flagged?.possibleDuplicate).toBe(true);
    const unflagged = entries.find((entry) => entry.patientId === original!.id);
    expect(unflagged?.possibleDuplicate).toBe(false);
  });

  it('lets staff dismiss a possible duplicate, clearing the flag on the live queue too', async () => {
    await walkIn({ firstName: 'Ines', lastName: 'Twin', dateOfBirth: '1988-02-02' });
    const { user } = await callerFor(phos).auth.register(patientInput({ firstName: 'Ines', lastName: 'Twin', dateOfBirth: '1988-02-02' }));
    const patientId = await eventually(async () => (await callerFor(phos, user).registrant.status()).patientId);
    const staff = callerFor(phos, provider);
    const before = (await staff.queue.list()).entries.find((entry) => entry.patientId === patientId)!;
    expect(before.possibleDuplicate).toBe(true);

    expect((await trpcError(callerFor(phos, user).patients.dismissDuplicate({ id: patientId }))).code).toBe('FORBIDDEN');
    await staff.patients.dismissDuplicate({ id: patientId });
    expect((await staff.patients.byId({ id: patientId })).possibleDuplicateOf).toBeNull();
    const after = (await staff.queue.list()).entries.find((entry) => entry.patientId === patientId)!;
    expect(after).toMatchObject({ possibleDuplicate: false, version: before.version + 1 });
    expect((await trpcError(staff.patients.dismissDuplicate({ id: patientId }))).code).toBe('NOT_FOUND');
  });

  it('refuses walk-ins and matching to anonymous callers and Patients', async () => {
    const { user: patient } = await callerFor(phos).auth.register(patientInput());
    for (const [user, code] of [
      [null, 'UNAUTHORIZED'],
      [patient, 'FORBIDDEN'],
    ] as const) {
      const caller = callerFor(phos, user);
      for (const error of await trpcErrors([
        caller.patients.registerWalkIn({ firstName: 'No', lastName: 'Access', dateOfBirth: '1990-01-01' }),
        caller.patients.findMatches({ firstName: 'No', lastName: 'Access', dateOfBirth: '1990-01-01' }),
      ])) {
        expect(error.code).toBe(code);
      }
    }
    expect(await patientsNamed('Access')).toHaveLength(0);
  });

  it('refuses a walk-in with invalid fields and writes nothing', async () => {
    const error = await trpcError(
      callerFor(phos, provider).patients.registerWalkIn({ firstName: '', lastName: 'Bad', dateOfBirth: '2990-01-01', phone: 'call me' }),
    );
    expect(error.code).toBe('BAD_REQUEST');
    expect(await patientsNamed('Bad')).toHaveLength(0);
  });
});
