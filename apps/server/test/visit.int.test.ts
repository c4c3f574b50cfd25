import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueStatus, User, Visit } from '@phos/shared';
import { callerInSession, sessionOf } from './security/session-support.js';
import {
  callerFor,
  collect,
  createPatient,
  createStaff,
  eventually,
  patientInput,
  queueDirectly,
  recordStatements,
  startTestPhos,
  type TestPhos,
} from './support.js';

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
    const caller = await callerInSession(phos, await sessionOf(phos, user), { renew: false, signal: controller.signal });
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

/** A Patient with a queue entry, and its own caller. */
async function queuedPatient(phos: TestPhos, lastName: string) {
  const user = await createPatient(phos, { lastName });
  const caller = callerFor(phos, user);
  const visit = await eventually(async () => {
    const now = await caller.visit.mine();
    return now.stage === 'waiting' ? now : undefined;
  });
  return { user, caller, patientId: visit.patientId ?? '' };
}

/**
 * A live `visit.onMine` with the moment each visit arrived, in a session of its own as over HTTP,
 * so the stream's middleware (one stream slot, services bound to the stream) runs as it does there.
 */
async function watchVisit(phos: TestPhos, user: User) {
  const controller = new AbortController();
  const caller = await callerInSession(phos, await sessionOf(phos, user), { renew: false, signal: controller.signal });
  const arrivals: { visit: Visit; at: number }[] = [];
  const ended = (async () => {
    try {
      for await (const visit of await caller.visit.onMine()) arrivals.push({ visit, at: Date.now() });
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
  })();
  ended.catch(() => undefined);
  const latest = () => arrivals.at(-1)?.visit;
  return {
    arrivals,
    latest,
    until: (check: (visit: Visit) => boolean, timeoutMs?: number) =>
      eventually(() => {
        const visit = latest();
        return Promise.resolve(visit && check(visit) ? visit : undefined);
      }, timeoutMs),
    stop: async () => {
      controller.abort();
      await ended;
    },
  };
}

/**
 * Counts the statements sent to the database outside transactions that read the queue or patients:
 * what computing visits costs, without the relay's and the hub's own timers.
 */
function countVisitReads(phos: TestPhos) {
  const statements = recordStatements(phos);
  let from = 0;
  return {
    reset: () => (from = statements.sent.length),
    get count() {
      return statements.sent.slice(from).filter((text) => /"(queue_entries|queue_transitions|patients)"/.test(text)).length;
    },
    restore: statements.restore,
  };
}

describe('live visits, many watching', () => {
  let phos: TestPhos;
  let clinician: User;
  let staff: ReturnType<typeof callerFor>;

  beforeAll(async () => {
    phos = await startTestPhos();
    clinician = await createStaff(phos, 'Provider', { firstName: 'Ned', lastName: 'Nurse' });
    staff = callerFor(phos, clinician);
  });
  afterAll(() => phos.cleanup());

  async function entryOf(patientId: string) {
    const { entries } = await staff.queue.list();
    const entry = entries.find((candidate) => candidate.patientId === patientId);
    if (!entry) throw new Error('no entry');
    return entry;
  }

  it('ends each subscriber on the same visit as a fresh visit.mine, through a series of queue moves', async () => {
    const patients = [];
    for (const name of ['Ava', 'Ben', 'Cal', 'Dot']) patients.push(await queuedPatient(phos, name));
    const watchers = await Promise.all(patients.map((patient) => watchVisit(phos, patient.user)));
    try {
      await Promise.all(watchers.map((watcher) => watcher.until((visit) => visit.stage === 'waiting')));
      const [ava, ben, cal, dot] = patients.map((patient) => patient.patientId);
      if (!ava || !ben || !cal || !dot) throw new Error('four patients expected');

      const move = async (patientId: string, to: QueueStatus) => {
        const entry = await entryOf(patientId);
        await staff.queue.transition({ entryId: entry.id, expectedVersion: entry.version, to });
      };
      await move(ava, 'in_triage');
      const a = await entryOf(ava);
      await staff.queue.triage({ entryId: a.id, expectedVersion: a.version, acuity: 4 });
      await move(ben, 'with_clinician');
      await move(cal, 'in_triage');
      // A new arrival, more acute than everyone in line: ahead of them all.
      const urgent = await queueDirectly(phos, { lastName: 'Urgent' });
      await staff.queue.transition({ entryId: urgent.id, expectedVersion: urgent.version, to: 'in_triage' });
      await staff.queue.triage({ entryId: urgent.id, expectedVersion: urgent.version + 1, acuity: 1 });
      await move(ben, 'done');
      await move(cal, 'with_clinician');

      for (const [index, patient] of patients.entries()) {
        const expected = await patient.caller.visit.mine();
        const watcher = watchers[index];
        if (!watcher) throw new Error('watcher expected');
        // Position changes may wait up to 3 s before they are delivered.
        await watcher.until((visit) => JSON.stringify(visit) === JSON.stringify(expected), 15_000);
      }
      expect(watchers.map((watcher) => watcher.latest())).toMatchObject([
        { stage: 'in_triage', position: 2 },
        { stage: 'done', position: null },
        { stage: 'with_clinician', clinicianName: 'Ned Nurse', position: null },
        { stage: 'waiting', position: 3 },
      ]);
    } finally {
      await Promise.all(watchers.map((watcher) => watcher.stop()));
    }
  });

  it('delivers a stage change at once while a position change waits its turn, and still delivers that', async () => {
    const ahead = [
      await queueDirectly(phos, { lastName: 'First', minutesAgo: 90 }),
      await queueDirectly(phos, { lastName: 'Second', minutesAgo: 80 }),
    ];
    const patient = await queuedPatient(phos, 'Eve');
    const watcher = await watchVisit(phos, patient.user);
    try {
      const first = await watcher.until((visit) => visit.stage === 'waiting');
      const [one, two] = ahead;
      if (!one || !two) throw new Error('two entries expected');

      // A position-only change right after the first visit: held until 3 s after it, then delivered.
      const sentAt = watcher.arrivals.at(-1)?.at ?? 0;
      await staff.queue.transition({ entryId: one.id, expectedVersion: one.version, to: 'with_clinician' });
      const moved = await watcher.until((visit) => visit.position === (first.position ?? 0) - 1, 15_000);
      expect(moved.stage).toBe('waiting');
      expect((watcher.arrivals.at(-1)?.at ?? 0) - sentAt).toBeGreaterThanOrEqual(2_900);

      // Another position change, held again; then the patient is called in, which arrives at once with the latest place.
      const count = watcher.arrivals.length;
      await staff.queue.transition({ entryId: two.id, expectedVersion: two.version, to: 'with_clinician' });
      const mine = await entryOf(patient.patientId);
      const calledAt = Date.now();
      await staff.queue.transition({ entryId: mine.id, expectedVersion: mine.version, to: 'in_triage' });
      const triaged = await watcher.until((visit) => visit.stage === 'in_triage', 15_000);
      expect((watcher.arrivals.at(-1)?.at ?? 0) - calledAt).toBeLessThan(2_000);
      expect(triaged.position).toBe((moved.position ?? 0) - 1);
      expect(
        watcher.arrivals.slice(count).every((arrival) => arrival.visit.stage === 'in_triage' || arrival.visit.position === moved.position),
      ).toBe(true);
    } finally {
      await watcher.stop();
    }
  });

  it('gives a watcher that was not reading while its visit changed the latest visit when it reads again, at once', async () => {
    const patient = await queuedPatient(phos, 'Slow');
    const controller = new AbortController();
    const caller = await callerInSession(phos, await sessionOf(phos, patient.user), { renew: false, signal: controller.signal });
    const visits = (await caller.visit.onMine())[Symbol.asyncIterator]();
    try {
      expect((await visits.next()).value).toMatchObject({ stage: 'waiting' });
      // Nobody reads the stream while the patient goes through triage to a clinician: as a socket
      // that stays full, or a generator that has not been resumed.
      const entry = await entryOf(patient.patientId);
      await staff.queue.transition({ entryId: entry.id, expectedVersion: entry.version, to: 'in_triage' });
      await staff.queue.transition({ entryId: entry.id, expectedVersion: entry.version + 1, to: 'with_clinician' });
      const expected = await patient.caller.visit.mine();
      expect(expected.stage).toBe('with_clinician');
      // It then reads the latest (or, if the board's pass for the second move is still running, the
      // step between and then the latest): nothing skipped, nothing stale left as its last visit.
      await phos.services.hub.pump();
      const read: Visit[] = [];
      await eventually(async () => {
        const step = await visits.next();
        if (step.value) read.push(step.value);
        return read.at(-1)?.stage === 'with_clinician';
      }, 15_000);
      expect(read.at(-1)).toEqual(expected);
      expect(read.length).toBeLessThanOrEqual(2);
    } finally {
      controller.abort();
      await visits.return?.();
    }
  });

  it('costs the same number of statements per queue event with 2 or 20 subscribers', async () => {
    const patients = [];
    for (let index = 0; index < 20; index += 1) patients.push(await queuedPatient(phos, `Crowd${index}`));
    const counter = countVisitReads(phos);
    const perEvent: Record<number, number> = {};
    try {
      for (const watching of [2, 20]) {
        const events = 2;
        const ahead = [];
        for (let index = 0; index < events; index += 1)
          ahead.push(await queueDirectly(phos, { lastName: `Ahead${watching}-${index}`, minutesAgo: 500 }));
        // Those arrivals reach the hub before anyone watches, so no pass for them falls in the count.
        await phos.services.hub.pump();
        const watchers = await Promise.all(patients.slice(0, watching).map((patient) => watchVisit(phos, patient.user)));
        try {
          const initial = await Promise.all(watchers.map((watcher) => watcher.until((visit) => visit.stage === 'waiting')));
          let positions = initial.map((visit) => visit.position ?? 0);
          counter.reset();
          for (const entry of ahead) {
            await staff.queue.transition({ entryId: entry.id, expectedVersion: entry.version, to: 'with_clinician' });
            const expected = positions.map((position) => position - 1);
            await Promise.all(watchers.map((watcher, index) => watcher.until((visit) => visit.position === expected[index], 15_000)));
            positions = expected;
          }
          perEvent[watching] = counter.count / events;
        } finally {
          await Promise.all(watchers.map((watcher) => watcher.stop()));
        }
      }
    } finally {
      counter.restore();
    }
    console.log(`visit reads per queue event: ${JSON.stringify(perEvent)}`);
    // One pass of the board is four statements; an event of the clinic's own in a window (an overdue alert) may add one pass.
    // Reading per subscriber, 20 cost about 100 statements per event.
    expect(Math.abs((perEvent[20] ?? 0) - (perEvent[2] ?? 0))).toBeLessThanOrEqual(4);
    expect(perEvent[20]).toBeLessThanOrEqual(8);
  }, 120_000);
});
