import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canTransition, queueStatuses, type QueueEntry, type QueueStatus, type User } from '@phos/shared';
import { callerFor, createPatient, createStaff, queueDirectly, startTestPhos, type TestPhos, trpcError, trpcErrors } from './support.js';

/** How to reach each status from waiting along the graph. */
const pathTo: Record<QueueStatus, QueueStatus[]> = {
  waiting: [],
  in_triage: ['in_triage'],
  with_clinician: ['with_clinician'],
  done: ['with_clinician', 'done'],
  left: ['left'],
};

describe('queue workflow', () => {
  let phos: TestPhos;
  let admin: User;
  let provider: User;
  let colleague: User;
  let patient: User;

  beforeAll(async () => {
    phos = await startTestPhos();
    admin = await createStaff(phos, 'Admin', { firstName: 'Ada', lastName: 'Admin' });
    provider = await createStaff(phos, 'Provider', { firstName: 'Paula', lastName: 'Provider' });
    colleague = await createStaff(phos, 'Provider', { firstName: 'Carl', lastName: 'Colleague' });
    patient = await createPatient(phos);
  });
  afterAll(() => phos.cleanup());

  let arrivals = 0;
  const queued = (lastName = `Patient${++arrivals}`) => queueDirectly(phos, { lastName });

  async function walk(entry: QueueEntry, steps: QueueStatus[], as: User = provider): Promise<QueueEntry> {
    let current = entry;
    for (const to of steps) {
      ({ entry: current } = await callerFor(phos, as).queue.transition({
        entryId: current.id,
        expectedVersion: current.version,
        to,
      }));
    }
    return current;
  }

  describe('the transition graph', () => {
    const pairs = queueStatuses.flatMap((from) => queueStatuses.map((to) => [from, to] as const));

    it.each(pairs)('%s → %s is allowed exactly when the graph says so', async (from, to) => {
      const entry = await walk(await queued(), pathTo[from]);
      expect(entry.status).toBe(from);
      const attempt = callerFor(phos, provider).queue.transition({ entryId: entry.id, expectedVersion: entry.version, to });
      if (canTransition(from, to)) {
        const { entry: moved } = await attempt;
        expect(moved).toMatchObject({ status: to, version: entry.version + 1 });
      } else {
        const error = await trpcError(attempt);
        expect(error.code).toBe('UNPROCESSABLE_CONTENT');
        expect(error.message).toMatch(/Cannot move from/);
      }
    });

    it('records who moved the entry, when, from and to', async () => {
      const entry = await walk(await queued(), ['in_triage', 'with_clinician']);
      const journey = await callerFor(phos, colleague).patients.journey({ id: entry.patientId });
      const visit = journey.visits[0];
      expect(visit?.transitions.map((t) => [t.from, t.to, t.by.name])).toEqual([
        ['waiting', 'in_triage', 'Paula Provider'],
        ['in_triage', 'with_clinician', 'Paula Provider'],
      ]);
      expect(Date.parse(visit?.transitions[1]?.at ?? '')).toBeGreaterThanOrEqual(Date.parse(entry.arrivedAt));
    });
  });

  describe('with clinician', () => {
    it('names the caller as clinician by default, or the chosen Provider and room', async () => {
      const room = await callerFor(phos, admin).admin.createRoom({ name: `Room ${randomUUID().slice(0, 4)}` });
      const mine = await walk(await queued(), ['with_clinician']);
      expect(mine.clinician).toEqual({ id: provider.id, name: 'Paula Provider' });
      expect(mine.room).toBeNull();

      const entry = await queued();
      const { entry: assigned } = await callerFor(phos, provider).queue.transition({
        entryId: entry.id,
        expectedVersion: entry.version,
        to: 'with_clinician',
        clinicianId: colleague.id,
        roomId: room.id,
      });
      expect(assigned.clinician).toEqual({ id: colleague.id, name: 'Carl Colleague' });
      expect(assigned.room).toEqual(room);
    });

    it('refuses a clinician who is not a Provider, and a room not in use', async () => {
      const entry = await queued();
      const notProvider = await trpcError(
        callerFor(phos, provider).queue.transition({
          entryId: entry.id,
          expectedVersion: entry.version,
          to: 'with_clinician',
          clinicianId: admin.id,
        }),
      );
      expect(notProvider.code).toBe('BAD_REQUEST');
      const room = await callerFor(phos, admin).admin.createRoom({ name: `Closed ${randomUUID().slice(0, 4)}` });
      await callerFor(phos, admin).admin.archiveRoom({ id: room.id });
      const closedRoom = await trpcError(
        callerFor(phos, provider).queue.transition({
          entryId: entry.id,
          expectedVersion: entry.version,
          to: 'with_clinician',
          roomId: room.id,
        }),
      );
      expect(closedRoom.code).toBe('BAD_REQUEST');
    });
  });

  describe('undo', () => {
    it('steps back through transitions, restoring clinician and room, until there is nothing left', async () => {
      const room = await callerFor(phos, admin).admin.createRoom({ name: `Undo ${randomUUID().slice(0, 4)}` });
      let entry = await walk(await queued(), ['in_triage']);
      ({ entry } = await callerFor(phos, provider).queue.transition({
        entryId: entry.id,
        expectedVersion: entry.version,
        to: 'with_clinician',
        roomId: room.id,
      }));
      entry = await walk(entry, ['done']);
      expect(entry).toMatchObject({ status: 'done', room });

      const undo = async () => {
        ({ entry } = await callerFor(phos, colleague).queue.undo({ entryId: entry.id, expectedVersion: entry.version }));
        return entry;
      };
      expect(await undo()).toMatchObject({ status: 'with_clinician', room, clinician: { id: provider.id } });
      expect(await undo()).toMatchObject({ status: 'in_triage', room: null, clinician: null });
      expect(await undo()).toMatchObject({ status: 'waiting', statusChangedAt: entry.arrivedAt });
      const nothing = await trpcError(callerFor(phos, provider).queue.undo({ entryId: entry.id, expectedVersion: entry.version }));
      expect(nothing.code).toBe('UNPROCESSABLE_CONTENT');

      const journey = await callerFor(phos, provider).patients.journey({ id: entry.patientId });
      const transitions = journey.visits[0]?.transitions ?? [];
      expect(transitions.filter((t) => t.kind === 'undo')).toHaveLength(3);
      expect(transitions.filter((t) => t.kind === 'transition').every((t) => t.undoneAt !== null)).toBe(true);
    });
  });

  describe('conflicts', () => {
    it('lets one of two clinicians acting on the same version win and tells the other', async () => {
      const entry = await queued('Contested');
      const results = await Promise.allSettled([
        callerFor(phos, provider).queue.transition({ entryId: entry.id, expectedVersion: entry.version, to: 'in_triage' }),
        callerFor(phos, colleague).queue.transition({ entryId: entry.id, expectedVersion: entry.version, to: 'left' }),
      ]);
      const fulfilled = results.filter((result) => result.status === 'fulfilled');
      const rejected = results.filter((result) => result.status === 'rejected');
      expect(fulfilled).toHaveLength(1);
      expect(rejected).toHaveLength(1);
      const error = rejected[0]?.reason as TRPCError;
      expect(error.code).toBe('CONFLICT');
      expect(error.message).toMatch(/Contested was changed by someone else/);

      const { entries } = await callerFor(phos, provider).queue.list();
      const current = entries.find((e) => e.id === entry.id);
      const winner = fulfilled[0]?.status === 'fulfilled' ? fulfilled[0].value.entry : undefined;
      if (winner?.status === 'left') expect(current).toBeUndefined();
      else expect(current).toMatchObject({ status: 'in_triage', version: entry.version + 1 });
    });

    it('refuses a stale version for triage and undo too', async () => {
      const entry = await walk(await queued(), ['in_triage']);
      const stale = entry.version - 1;
      for (const error of await trpcErrors([
        callerFor(phos, provider).queue.triage({ entryId: entry.id, expectedVersion: stale, acuity: 3 }),
        callerFor(phos, provider).queue.undo({ entryId: entry.id, expectedVersion: stale }),
      ])) {
        expect(error.code).toBe('CONFLICT');
      }
    });
  });

  describe('triage', () => {
    it('sets acuity with a note in triage and keeps the history', async () => {
      let entry = await walk(await queued(), ['in_triage']);
      ({ entry } = await callerFor(phos, provider).queue.triage({
        entryId: entry.id,
        expectedVersion: entry.version,
        acuity: 3,
        note: 'Chest pain, stable',
      }));
      ({ entry } = await callerFor(phos, colleague).queue.triage({ entryId: entry.id, expectedVersion: entry.version, acuity: 2 }));
      expect(entry.acuity).toBe(2);
      const journey = await callerFor(phos, provider).patients.journey({ id: entry.patientId });
      expect(journey.visits[0]?.triage.map((t) => [t.acuity, t.note, t.by.name])).toEqual([
        [3, 'Chest pain, stable', 'Paula Provider'],
        [2, null, 'Carl Colleague'],
      ]);
    });

    it('refuses acuity outside triage and outside 1–5', async () => {
      const entry = await queued();
      const notInTriage = await trpcError(
        callerFor(phos, provider).queue.triage({ entryId: entry.id, expectedVersion: entry.version, acuity: 2 }),
      );
      expect(notInTriage.code).toBe('UNPROCESSABLE_CONTENT');
      const outOfRange = await trpcError(
        callerFor(phos, provider).queue.triage({ entryId: entry.id, expectedVersion: entry.version, acuity: 6 as never }),
      );
      expect(outOfRange.code).toBe('BAD_REQUEST');
    });

    // A Phos of its own, started inside the test: on a loaded machine that start alone has taken most of 30 s.
    it('orders the queue by acuity, then arrival, untriaged last', { timeout: 120_000 }, async () => {
      const fresh = await startTestPhos();
      try {
        const caller = callerFor(fresh, await createStaff(fresh));
        const make = async (lastName: string, minutesAgo: number, acuity?: 1 | 2 | 3 | 4 | 5) => {
          const queuedEntry = await queueDirectly(fresh, { firstName: 'Order', lastName, minutesAgo });
          if (acuity === undefined) return;
          const { entry } = await caller.queue.transition({ entryId: queuedEntry.id, expectedVersion: 1, to: 'in_triage' });
          await caller.queue.triage({ entryId: entry.id, expectedVersion: entry.version, acuity });
        };
        await make('LateLowAcuity', 5, 4);
        await make('EarlyLowAcuity', 50, 4);
        await make('Untriaged', 90);
        await make('MostAcute', 1, 1);
        await make('Acute', 30, 2);
        const { entries } = await callerFor(fresh, admin).queue.list();
        expect(entries.map((entry) => entry.lastName)).toEqual(['MostAcute', 'Acute', 'EarlyLowAcuity', 'LateLowAcuity', 'Untriaged']);
      } finally {
        await fresh.cleanup();
      }
    });
  });

  describe('settings', () => {
    it('starts from the default targets, which an Admin can change', async () => {
      const before = await callerFor(phos, provider).queue.settings();
      expect(before.targets).toEqual({ 1: 0, 2: 10, 3: 30, 4: 60, 5: 120 });
      await callerFor(phos, admin).admin.setAcuityTargets({ 1: 0, 2: 5, 3: 20, 4: 60, 5: 90 });
      const after = await callerFor(phos, provider).queue.settings();
      expect(after.targets).toEqual({ 1: 0, 2: 5, 3: 20, 4: 60, 5: 90 });
      expect(after.clinicians.map((c) => c.name)).toEqual(expect.arrayContaining(['Paula Provider', 'Carl Colleague']));
      expect(after.clinicians.map((c) => c.id)).not.toContain(admin.id);
    });

    it('keeps room names unique among rooms in use', async () => {
      const name = `Bay ${randomUUID().slice(0, 4)}`;
      const room = await callerFor(phos, admin).admin.createRoom({ name });
      expect((await trpcError(callerFor(phos, admin).admin.createRoom({ name: name.toUpperCase() }))).code).toBe('CONFLICT');
      await callerFor(phos, admin).admin.archiveRoom({ id: room.id });
      await expect(callerFor(phos, admin).admin.createRoom({ name })).resolves.toMatchObject({ name });
    });
  });

  describe('authorisation of the workflow procedures', () => {
    it('refuses anonymous callers and Patients, allows Providers and Admins', async () => {
      const entry = await queued();
      const calls = (user: User | null) => {
        const caller = callerFor(phos, user);
        return [
          caller.queue.transition({ entryId: entry.id, expectedVersion: 99, to: 'in_triage' }),
          caller.queue.triage({ entryId: entry.id, expectedVersion: 99, acuity: 3 }),
          caller.queue.undo({ entryId: entry.id, expectedVersion: 99 }),
          caller.queue.settings(),
          caller.patients.journey({ id: entry.patientId }),
        ];
      };
      for (const error of await trpcErrors(calls(null))) expect(error.code).toBe('UNAUTHORIZED');
      for (const error of await trpcErrors(calls(patient))) expect(error.code).toBe('FORBIDDEN');
      for (const user of [provider, admin]) {
        const results = await Promise.allSettled(calls(user));
        // Past the role check: a stale version, not a refusal.
        const codes = results.map((result) => (result.status === 'rejected' ? (result.reason as TRPCError).code : 'OK'));
        expect(codes).toEqual(['CONFLICT', 'CONFLICT', 'CONFLICT', 'OK', 'OK']);
      }
    });

    it('keeps room and target management to Admins', async () => {
      for (const user of [null, patient, provider]) {
        const caller = callerFor(phos, user);
        for (const error of await trpcErrors([
          caller.admin.createRoom({ name: 'Nope' }),
          caller.admin.archiveRoom({ id: randomUUID() }),
          caller.admin.setAcuityTargets({ 1: 0, 2: 10, 3: 30, 4: 60, 5: 120 }),
        ])) {
          expect(error.code).toBe(user === null ? 'UNAUTHORIZED' : 'FORBIDDEN');
        }
      }
    });
  });
});
