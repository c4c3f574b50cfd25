import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEntry, User } from '@phos/shared';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createSession } from '../src/identity/sessions.js';
import { OVERDUE_QUEUE, OVERDUE_SCHEDULER, scheduleOverdueSweep, sweepOverdue } from '../src/jobs/overdue.js';
import { redisOptions } from '../src/redis/connection.js';
import { createContextInner, silentLogger } from '../src/trpc/context.js';
import { createCaller } from '../src/trpc/router.js';
import {
  callerFor,
  collect,
  createStaff,
  eventually,
  patientInput,
  queueDirectly,
  startTestPhos,
  type TestPhos,
  trpcError,
} from './support.js';

describe('notifications', () => {
  let phos: TestPhos;
  let onShift: User;
  let offShift: User;
  let admin: User;

  beforeAll(async () => {
    phos = await startTestPhos();
    const db = phos.services.db;
    onShift = await createStaff(phos, 'Provider', { firstName: 'On', lastName: 'Shift' });
    offShift = await createStaff(phos, 'Provider', { firstName: 'Off', lastName: 'Shift' });
    admin = await createStaff(phos, 'Admin');
    await createSession(db, onShift, phos.services.sessionPolicy);
  });
  let queue: Queue | undefined;
  let connection: Redis | undefined;
  /** The overdue sweeps' queue, as a second worker process would open it. */
  const overdueQueue = () => {
    connection ??= new Redis({ ...redisOptions(phos.redisTarget), maxRetriesPerRequest: null });
    queue ??= new Queue(OVERDUE_QUEUE, { connection, prefix: phos.prefix });
    return queue;
  };
  afterAll(async () => {
    await queue?.close();
    connection?.disconnect();
    await phos.cleanup();
  });

  const queued = (lastName: string, minutesAgo = 0) => queueDirectly(phos, { firstName: 'Note', lastName, minutesAgo });

  async function triaged(lastName: string, acuity: 1 | 2 | 3 | 4 | 5, minutesAgo = 0, by: User = admin): Promise<QueueEntry> {
    const caller = callerFor(phos, by);
    const entry = await queued(lastName, minutesAgo);
    const { entry: inTriage } = await caller.queue.transition({ entryId: entry.id, expectedVersion: 1, to: 'in_triage' });
    const { entry: done } = await caller.queue.triage({ entryId: entry.id, expectedVersion: inTriage.version, acuity });
    return done;
  }

  async function titles(user: User): Promise<string[]> {
    await phos.notifier?.run();
    return (await callerFor(phos, user).notifications.inbox()).notifications.map((n) => n.title);
  }

  it('tells every signed-in Provider about an ESI 1–2 patient, and nobody about ESI 4', async () => {
    await triaged('Acute', 2);
    await triaged('Minor', 4);
    const seen = await eventually(async () => {
      const list = await titles(onShift);
      return list.some((title) => title.includes('Acute')) ? list : undefined;
    });
    expect(seen.filter((title) => title.includes('Acute'))).toEqual(['ESI 2 patient: Note Acute']);
    expect(seen.some((title) => title.includes('Minor'))).toBe(false);
    expect((await titles(offShift)).some((title) => title.includes('Acute'))).toBe(false);
    expect((await titles(admin)).some((title) => title.includes('Acute'))).toBe(false);
  });

  it('does not tell the Provider who set the acuity', async () => {
    await triaged('SelfTriaged', 1, 0, onShift);
    await triaged('Marker', 1);
    await eventually(async () => (await titles(onShift)).includes('ESI 1 patient: Note Marker'));
    expect((await titles(onShift)).some((title) => title.startsWith('ESI') && title.includes('SelfTriaged'))).toBe(false);
  });

  it('tells the other Providers that a care plan awaits approval', async () => {
    const { user: patientUser } = await callerFor(phos).auth.register(patientInput());
    const patientId = await eventually(async () => (await callerFor(phos, patientUser).registrant.status()).patientId);
    await callerFor(phos, onShift).carePlans.draft({ patientId, title: 'Wound care', goals: 'Heal', instructions: 'Dress daily' });
    await eventually(async () => (await titles(offShift)).includes('Care plan awaiting approval: Wound care'));
    expect(await titles(onShift)).not.toContain('Care plan awaiting approval: Wound care');
  });

  it('alerts all Providers once when an unassigned patient passes the target wait, however many sweeps run', async () => {
    await triaged('Overdue', 3, 45);
    await triaged('OnTime', 3, 5);
    // Two sweeps at once, as two workers would run them, and then the worker's scheduled ones.
    // (An ESI 1 patient is past target at once: tests that look for one alert filter on its title.)
    const deps = {
      db: phos.services.db,
      log: silentLogger,
      announce: (lastEventId: bigint) => {
        phos.services.announce(lastEventId);
        return Promise.resolve();
      },
    };
    await Promise.all([sweepOverdue(deps), sweepOverdue(deps)]);
    for (const user of [onShift, offShift]) {
      const list = await eventually(async () => {
        const current = await titles(user);
        return current.includes('Past target: Note Overdue') ? current : undefined;
      });
      expect(list.filter((title) => title === 'Past target: Note Overdue')).toHaveLength(1);
      expect(list).not.toContain('Past target: Note OnTime');
    }
  });

  it('sweeps on one BullMQ job scheduler, so a second worker process adds no second sweep', async () => {
    // Another worker process starting upserts the same scheduler: here with a short interval, so
    // the running worker's sweeps are seen to follow it, then back to the default.
    await scheduleOverdueSweep(overdueQueue(), 300);
    try {
      const done = await eventually(async () => {
        const completed = await overdueQueue().getJobs(['completed']);
        return completed.length >= 3 ? completed : undefined;
      });
      expect(new Set(done.map((job) => job.name))).toEqual(new Set(['queue.overdue-sweep']));
      const schedulers = await overdueQueue().getJobSchedulers();
      expect(schedulers.map((scheduler) => scheduler.key)).toEqual([OVERDUE_SCHEDULER]);
    } finally {
      // Sweeps every 300 ms would add past-target alerts under the tests that count a user's alerts.
      await scheduleOverdueSweep(overdueQueue(), 15_000);
    }
  });

  it('keeps read state per user', async () => {
    await triaged('ReadMe', 1);
    const mine = await eventually(async () => {
      await phos.notifier?.run();
      const inbox = await callerFor(phos, onShift).notifications.inbox();
      return inbox.notifications.find((n) => n.title.includes('ReadMe')) ? inbox : undefined;
    });
    const target = mine.notifications.find((n) => n.title.includes('ReadMe'))!;
    await callerFor(phos, onShift).notifications.markRead({ ids: [target.id] });
    const after = await callerFor(phos, onShift).notifications.inbox();
    expect(after.unreadCount).toBe(mine.unreadCount - 1);
    expect(after.notifications.find((n) => n.id === target.id)?.readAt).not.toBeNull();

    // Someone else's id changes nothing for them.
    const theirs = await callerFor(phos, offShift).notifications.inbox();
    await callerFor(phos, offShift).notifications.markRead({ ids: [target.id] });
    expect((await callerFor(phos, offShift).notifications.inbox()).unreadCount).toBe(theirs.unreadCount);

    await callerFor(phos, onShift).notifications.markAllRead();
    expect((await callerFor(phos, onShift).notifications.inbox()).unreadCount).toBe(0);
  });

  it('pushes a new notification live to its recipient only', async () => {
    const controller = new AbortController();
    const caller = createCaller(createContextInner({ services: phos.services, user: onShift }), { signal: controller.signal });
    const received = collect(await caller.notifications.onNew(), { signal: controller.signal });
    // The ESI alert: at ESI 1 the overdue sweep may add a "Past target" one for the same patient.
    const livePush = () => received.received.filter(({ data }) => data.title === 'ESI 1 patient: Note LivePush');
    try {
      await triaged('LivePush', 1);
      await eventually(async () => {
        await phos.notifier?.run();
        return livePush().length > 0;
      });
      expect(livePush()).toHaveLength(1);
    } finally {
      controller.abort();
      await received.ended;
    }
  });

  it('refuses the inbox to anonymous callers', async () => {
    expect((await trpcError(callerFor(phos).notifications.inbox())).code).toBe('UNAUTHORIZED');
    expect((await trpcError(callerFor(phos).notifications.markAllRead())).code).toBe('UNAUTHORIZED');
  });
});
