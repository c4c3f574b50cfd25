import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '@phos/shared';
import { createContextInner } from '../src/trpc/context.js';
import { createCaller } from '../src/trpc/router.js';
import { callerFor, collect, createStaff, eventually, patientInput, queueDirectly, startTestPhos, type TestPhos } from './support.js';

describe("the patient's own visit", () => {
  let phos: TestPhos;
  let clinician: User;

  beforeAll(async () => {
    phos = await startTestPhos();
    clinician = await createStaff(phos, 'Provider', { firstName: 'Mia', lastName: 'Medic' });
  });
  afterAll(() => phos.cleanup());

  it('follows the patient from registration to done, live, with position and estimate', async () => {
    // Someone already waiting, who arrived earlier.
    const earlier = await queueDirectly(phos, { firstName: 'Early', lastName: 'Bird', minutesAgo: 10 });

    const { user } = await callerFor(phos).auth.register(patientInput());
    const controller = new AbortController();
    const caller = createCaller(createContextInner({ services: phos.services, user }), { signal: controller.signal });
    const seen = collect(await caller.visit.onMine(), { signal: controller.signal });
    const latest = () => eventually(() => Promise.resolve(seen.received.at(-1)));
    try {
      const waiting = await eventually(() => Promise.resolve(seen.received.find((visit) => visit.stage === 'waiting')));
      expect(waiting).toMatchObject({ position: 2, estimatedWaitMinutes: 15, clinicianName: null });

      const staff = callerFor(phos, clinician);
      await staff.queue.transition({ entryId: earlier.id, expectedVersion: 1, to: 'with_clinician' });
      await eventually(async () => ((await latest()).position === 1 ? true : undefined));
      expect(await latest()).toMatchObject({ stage: 'waiting', position: 1, estimatedWaitMinutes: 0 });

      const { entries } = await staff.queue.list();
      const mine = entries.find((entry) => entry.patientId === waiting.patientId)!;
      const room = await callerFor(phos, await createStaff(phos, 'Admin')).admin.createRoom({ name: 'Room 4' });
      await staff.queue.transition({ entryId: mine.id, expectedVersion: mine.version, to: 'with_clinician', roomId: room.id });
      await eventually(async () => ((await latest()).stage === 'with_clinician' ? true : undefined));
      expect(await latest()).toMatchObject({ clinicianName: 'Mia Medic', roomName: 'Room 4', position: null });

      await staff.queue.transition({ entryId: mine.id, expectedVersion: mine.version + 1, to: 'done' });
      await eventually(async () => ((await latest()).stage === 'done' ? true : undefined));
      expect(seen.received.map((visit) => visit.stage)).toEqual(expect.arrayContaining(['waiting', 'with_clinician', 'done']));
      expect((await caller.visit.mine()).stage).toBe('done');
    } finally {
      controller.abort();
      await seen.ended;
    }
  });

  it('is for Patients only', async () => {
    await expect(callerFor(phos, clinician).visit.mine()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(callerFor(phos).visit.mine()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });
});
