import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User, Visit } from '@phos/shared';
import { createUser } from '../src/identity/users.js';
import { createContextInner } from '../src/trpc/context.js';
import { createCaller } from '../src/trpc/router.js';
import { callerFor, eventually, patientInput, queueDirectly, startTestPhos, type TestPhos } from './support.js';

describe("the patient's own visit", () => {
  let phos: TestPhos;
  let clinician: User;

  beforeAll(async () => {
    phos = await startTestPhos();
    ({ user: clinician } = await createUser(phos.services.db, { ...patientInput({ firstName: 'Mia', lastName: 'Medic' }), role: 'Provider' }));
  });
  afterAll(() => phos.cleanup());

  it('follows the patient from registration to done, live, with position and estimate', async () => {
    // Someone already waiting, who arrived earlier.
    const earlier = await queueDirectly(phos, { firstName: 'Early', lastName: 'Bird', minutesAgo: 10 });

    const { user } = await callerFor(phos).auth.register(patientInput());
    const controller = new AbortController();
    const caller = createCaller(createContextInner({ services: phos.services, user }), { signal: controller.signal });
    const seen: Visit[] = [];
    const stream = await caller.visit.onMine();
    const reading = (async () => {
      for await (const visit of stream) seen.push(visit);
    })();
    const latest = () => eventually(() => Promise.resolve(seen.at(-1)));
    try {
      const waiting = await eventually(() => Promise.resolve(seen.find((visit) => visit.stage === 'waiting')));
      expect(waiting).toMatchObject({ position: 2, estimatedWaitMinutes: 15, clinicianName: null });

      const staff = callerFor(phos, clinician);
      await staff.queue.transition({ entryId: earlier.id, expectedVersion: 1, to: 'with_clinician' });
      await eventually(async () => ((await latest()).position === 1 ? true : undefined));
      expect(await latest()).toMatchObject({ stage: 'waiting', position: 1, estimatedWaitMinutes: 0 });

      const { entries } = await staff.queue.list();
      const mine = entries.find((entry) => entry.patientId === waiting.patientId)!;
      const room = await callerFor(phos, (await createUser(phos.services.db, { ...patientInput(), role: 'Admin' })).user).admin.createRoom({
        name: 'Room 4',
      });
      await staff.queue.transition({ entryId: mine.id, expectedVersion: mine.version, to: 'with_clinician', roomId: room.id });
      await eventually(async () => ((await latest()).stage === 'with_clinician' ? true : undefined));
      expect(await latest()).toMatchObject({ clinicianName: 'Mia Medic', roomName: 'Room 4', position: null });

      await staff.queue.transition({ entryId: mine.id, expectedVersion: mine.version + 1, to: 'done' });
      await eventually(async () => ((await latest()).stage === 'done' ? true : undefined));
      expect(seen.map((visit) => visit.stage)).toEqual(expect.arrayContaining(['waiting', 'with_clinician', 'done']));
      expect((await caller.visit.mine()).stage).toBe('done');
    } finally {
      controller.abort();
      await reading.catch(() => undefined);
    }
  });

  it('is for Patients only', async () => {
    await expect(callerFor(phos, clinician).visit.mine()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(callerFor(phos).visit.mine()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });
});
