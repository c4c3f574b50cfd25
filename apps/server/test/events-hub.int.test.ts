import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { User } from '@phos/shared';
import type { Db } from '../src/db/client.js';
import { AppError } from '../src/errors.js';
import { createEventHub, type EventHub } from '../src/events/hub.js';
import { headEventId, readEventsAfter, type LoggedEvent } from '../src/events/log.js';
import { streamEvents } from '../src/events/stream.js';
import { connectBlocking } from '../src/redis/connection.js';
import { createContextInner, silentLogger } from '../src/trpc/context.js';
import { createCaller } from '../src/trpc/router.js';
import { untilSessionEnds } from '../src/trpc/streams.js';
import { collect, createStaff, queueDirectly, startTestPhos, type TestPhos } from './support.js';

/** The database as the stream sees it, counting the queries it starts. */
function countingDb(db: Db): { db: Db; reads: () => number } {
  let reads = 0;
  const counted = new Proxy(db, {
    get(target, property, receiver) {
      if (property === 'select' || property === 'execute' || property === 'transaction') reads += 1;
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
  return { db: counted, reads: () => reads };
}

/** Commits one queue event and has `hub` read it, so it emits exactly one page. */
async function commitOne(phos: TestPhos, hub: EventHub, lastName: string): Promise<bigint> {
  await queueDirectly(phos, { lastName });
  await hub.pump();
  return headEventId(phos.services.db);
}

describe('the event hub: listeners that leave or fall behind', () => {
  let phos: TestPhos;
  let provider: User;

  beforeAll(async () => {
    phos = await startTestPhos();
    provider = await createStaff(phos);
  });
  afterAll(() => phos.cleanup());

  it('drops a listener and its unread pages the moment its signal aborts', async () => {
    const hub = phos.services.hub;
    const before = hub.listenerCount();
    const leaving = new AbortController();
    const live = hub.listen(leaving.signal)[Symbol.asyncIterator]();
    expect(hub.listenerCount()).toBe(before + 1);

    await commitOne(phos, hub, 'Unread');
    leaving.abort();
    expect(hub.listenerCount()).toBe(before);
    // The page it had buffered is gone with it.
    expect(await live.next()).toEqual({ done: true, value: undefined });
  });

  it('ends a queue subscription whose client left: no listener stays, no read happens on its behalf', async () => {
    const hub = phos.services.hub;
    const before = hub.listenerCount();
    const counting = countingDb(phos.services.db);
    const leaving = new AbortController();
    const from = (await headEventId(phos.services.db)).toString();
    const seen = collect(streamEvents(counting.db, hub, from, leaving.signal), { signal: leaving.signal });
    expect(hub.listenerCount()).toBe(before + 1);
    await commitOne(phos, hub, 'BeforeLeaving');
    await seen.waitFor((received) => received.length > 0);

    leaving.abort();
    expect(hub.listenerCount()).toBe(before);
    await seen.ended;
    const readsWhenLeft = counting.reads();
    const receivedWhenLeft = seen.received.length;
    for (const name of ['After1', 'After2', 'After3']) await commitOne(phos, hub, name);
    expect(counting.reads()).toBe(readsWhenLeft);
    expect(seen.received).toHaveLength(receivedWhenLeft);
  });

  it('releases the listener of a queue.onChange caller whose signal aborts', async () => {
    const hub = phos.services.hub;
    const before = hub.listenerCount();
    const leaving = new AbortController();
    const caller = createCaller(createContextInner({ services: phos.services, user: provider }), { signal: leaving.signal });
    const lastEventId = (await headEventId(phos.services.db)).toString();
    const seen = collect(await caller.queue.onChange({ lastEventId }), { signal: leaving.signal });
    await queueDirectly(phos, { lastName: 'Watched' });
    await seen.waitFor((received) => received.some(({ data }) => data.type === 'queue.entry.added'));
    expect(hub.listenerCount()).toBe(before + 1);
    leaving.abort();
    expect(hub.listenerCount()).toBe(before);
    await seen.ended;
  });

  it('ends a subscriber that falls too far behind; resuming from its last id it gets every event once, in order', async () => {
    const db = phos.services.db;
    // A hub of its own, on a channel nobody announces on: only `commitOne` makes it read, one page each.
    const subscriber = connectBlocking(inject('redisTarget'));
    const hub = createEventHub({
      db,
      subscriber,
      prefix: `${phos.prefix}-lagging`,
      log: silentLogger,
      safetyIntervalMs: 3_600_000,
      maxBacklogPages: 3,
    });
    await hub.start();
    try {
      const from = await headEventId(db);
      const slow = streamEvents(db, hub, from.toString(), undefined);
      const ids: bigint[] = [];
      /** Reads `stream` until it has passed `id`. */
      const readPast = async (stream: AsyncGenerator<LoggedEvent>, id: bigint) => {
        while ((ids.at(-1) ?? from) < id) {
          const step = await stream.next();
          if (step.done) throw new Error('the stream ended');
          ids.push(step.value.id);
        }
      };

      await readPast(slow, await commitOne(phos, hub, 'LagA')); // replayed from the log
      const waiting = readPast(slow, (await headEventId(db)) + 1n); // now (or soon) live, waiting on the hub
      await commitOne(phos, hub, 'LagB');
      await waiting;

      // Four pages it does not read: one more than it may hold.
      for (const name of ['LagC', 'LagD', 'LagE', 'LagF']) await commitOne(phos, hub, name);
      expect(hub.listenerCount()).toBe(0);
      // What it was reading from the log it may finish; once it turns to the hub it fails, retryably.
      const head = await headEventId(db);
      const failure: unknown = await (async () => {
        await readPast(slow, head);
        await slow.next();
      })().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(AppError);
      expect((failure as AppError).appCode).toBe('BUSY');
      const beforeReconnect = ids.length;

      // The client reconnects with the last id it received (Last-Event-ID) and misses nothing.
      const resumed = streamEvents(db, hub, ids.at(-1)?.toString(), undefined);
      await readPast(resumed, await headEventId(db));
      const live = readPast(resumed, (await headEventId(db)) + 1n);
      await commitOne(phos, hub, 'LagG');
      await live;
      await resumed.return(undefined);

      expect(ids.length).toBeGreaterThan(beforeReconnect);
      const logged = await readEventsAfter(db, from, { uptoId: ids.at(-1) });
      expect(ids).toEqual(logged.events.map((event) => event.id));
    } finally {
      await hub.stop();
      subscriber.disconnect();
    }
  });

  it('turns a stream’s retryable AppError into SERVICE_UNAVAILABLE, which the client answers by reconnecting', async () => {
    const stream = phos.services.streams.open({ tokenHash: 'lagging-session', userId: provider.id, role: provider.role });
    async function* fallsBehind(): AsyncGenerator<number> {
      yield await Promise.resolve(1);
      throw new AppError('BUSY', 'This live view fell behind; reconnecting');
    }
    const received: number[] = [];
    let failure: unknown;
    try {
      for await (const value of untilSessionEnds(fallsBehind(), stream)) received.push(value);
    } catch (error) {
      failure = error;
    }
    expect(received).toEqual([1]);
    expect(failure).toBeInstanceOf(TRPCError);
    expect((failure as TRPCError).code).toBe('SERVICE_UNAVAILABLE');
    expect((failure as TRPCError).cause).toBeInstanceOf(AppError);
  });
});
