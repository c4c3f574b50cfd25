import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent, QueueChange, User } from '@phos/shared';
import type { Db } from '../src/db/client.js';
import { appendEvents, headEventId, readEventsAfter } from '../src/events/log.js';
import { createContextInner } from '../src/trpc/context.js';
import { createCaller } from '../src/trpc/router.js';
import {
  collect,
  createStaff,
  eventually,
  patientInput,
  queueEntryFixture,
  startTestPhos,
  type TestPhos,
  usesPostgres,
} from './support.js';

function entryAdded(lastName: string): DomainEvent {
  return { type: 'queue.entry.added', payload: { entry: queueEntryFixture(lastName) } };
}

interface Received {
  id: string;
  change: QueueChange;
}

/** Opens `queue.onChange` as `user` and collects what it yields until aborted. */
async function subscribe(phos: TestPhos, user: User, lastEventId?: string) {
  const controller = new AbortController();
  const caller = createCaller(createContextInner({ services: phos.services, user }), { signal: controller.signal });
  const stream = await caller.queue.onChange(lastEventId === undefined ? undefined : { lastEventId });
  const events = collect(stream, { signal: controller.signal });
  return {
    async nextCount(n: number): Promise<Received[]> {
      const received = await events.waitFor((all) => all.length >= n);
      return received.slice(0, n).map(({ id, data }) => ({ id, change: data }));
    },
    /** What it has received so far. */
    received(): Received[] {
      return events.received.map(({ id, data }) => ({ id, change: data }));
    },
    async close() {
      controller.abort();
      await events.ended;
    },
  };
}

function names(received: Received[]): string[] {
  return received.map(({ change }) => change.entry.lastName);
}

describe('event log and queue.onChange', () => {
  let phos: TestPhos;
  let provider: User;

  beforeAll(async () => {
    phos = await startTestPhos();
    provider = await createStaff(phos);
  });
  afterAll(() => phos.cleanup());

  async function append(...lastNames: string[]): Promise<bigint> {
    const id = await phos.services.db.transaction((tx) => appendEvents(tx, lastNames.map(entryAdded)));
    await phos.hub.pump();
    return id;
  }

  it('hands out gapless ids in append order', async () => {
    const before = await headEventId(phos.services.db);
    await append('One', 'Two');
    await append('Three');
    const { events } = await readEventsAfter(phos.services.db, before);
    expect(events.map((event) => event.id)).toEqual([before + 1n, before + 2n, before + 3n]);
  });

  it('resumes from lastEventId with exactly the missed events, in order, then live ones', async () => {
    const seen = await append('Seen');
    await append('MissedA', 'MissedB');
    await append('MissedC');

    const subscription = await subscribe(phos, provider, seen.toString());
    try {
      const replayed = await subscription.nextCount(3);
      expect(names(replayed)).toEqual(['MissedA', 'MissedB', 'MissedC']);
      expect(replayed.map((event) => BigInt(event.id))).toEqual([seen + 1n, seen + 2n, seen + 3n]);

      await append('LiveA');
      await append('LiveB');
      const all = await subscription.nextCount(5);
      expect(names(all)).toEqual(['MissedA', 'MissedB', 'MissedC', 'LiveA', 'LiveB']);
      expect(new Set(all.map((event) => event.id)).size).toBe(5);
    } finally {
      await subscription.close();
    }
  });

  it('without lastEventId, streams only what happens after subscribing', async () => {
    await append('Before');
    const subscription = await subscribe(phos, provider);
    try {
      // The stream starts from the head it reads once it runs, a moment after the call returns: keep
      // appending until it shows one, so the test does not depend on how busy the machine is.
      let appended = 0;
      const [first] = await eventually(async () => {
        await append(`After${appended++}`);
        return subscription.received().length > 0 ? subscription.received() : undefined;
      }, 30_000);
      expect(names([first!])[0]).toMatch(/^After\d+$/);
      expect(names(subscription.received())).not.toContain('Before');
    } finally {
      await subscription.close();
    }
  });

  it('keeps commit order when a later transaction tries to commit first', async () => {
    const start = await headEventId(phos.services.db);
    const subscription = await subscribe(phos, provider, start.toString());
    const commits: string[] = [];
    let releaseFirst!: () => void;
    const firstMayCommit = new Promise<void>((resolve) => (releaseFirst = resolve));
    let firstAppended!: () => void;
    const firstHasAppended = new Promise<void>((resolve) => (firstAppended = resolve));

    const first = phos.services.db
      .transaction(async (tx: Db) => {
        await appendEvents(tx, [entryAdded('SlowWriter')]);
        firstAppended();
        await firstMayCommit;
      })
      .then(() => commits.push('SlowWriter'));
    await firstHasAppended;

    // With a plain sequence the second writer would take a later id and commit first, and a
    // reader that saw it could never receive the earlier one. The counter row makes it wait.
    const second = phos.services.db
      .transaction((tx: Db) => appendEvents(tx, [entryAdded('FastWriter')]))
      .then(() => commits.push('FastWriter'));

    if (usesPostgres) {
      // Another connection sees neither event while the first writer is open.
      expect((await readEventsAfter(phos.services.db, start)).events).toEqual([]);
    }
    releaseFirst();
    await Promise.all([first, second]);
    await phos.hub.pump();

    try {
      const received = await subscription.nextCount(2);
      expect(names(received)).toEqual(commits);
      expect(names(received)).toEqual(['SlowWriter', 'FastWriter']);
      expect(received.map((event) => BigInt(event.id))).toEqual([start + 1n, start + 2n]);

      const resumed = await subscribe(phos, provider, received[0]!.id);
      try {
        expect(names(await resumed.nextCount(1))).toEqual(['FastWriter']);
      } finally {
        await resumed.close();
      }
    } finally {
      await subscription.close();
    }
  });

  it('delivers events whose pub/sub message was lost, from the log', async () => {
    const subscription = await subscribe(phos, provider);
    try {
      // Committed with no message published and no pump: only the hub's safety pass can find it.
      await phos.services.db.transaction((tx) => appendEvents(tx, [entryAdded('Unannounced')]));
      expect(names(await subscription.nextCount(1))).toEqual(['Unannounced']);
    } finally {
      await subscription.close();
    }
  });

  it('delivers a registration to an open subscription through the worker and pub/sub', async () => {
    const subscription = await subscribe(phos, provider);
    try {
      await createCaller(createContextInner({ services: phos.services })).auth.register(patientInput({ lastName: 'Subscribed' }));
      const [event] = await subscription.nextCount(1);
      expect(event?.change).toMatchObject({ type: 'queue.entry.added', entry: { lastName: 'Subscribed', status: 'waiting' } });
    } finally {
      await subscription.close();
    }
  });
});
