import { Writable } from 'node:stream';
import { eq, sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent, QueueChange, User } from '@phos/shared';
import type { Db } from '../src/db/client.js';
import type { EventHub } from '../src/events/hub.js';
import { appendEvents, CLINIC_STREAM, headEventId, readEventsAfter, type LogPage } from '../src/events/log.js';
import { eventConsumers, eventLog, eventStreams } from '../src/events/schema.js';
import { streamEvents } from '../src/events/stream.js';
import { NOTIFICATIONS_CONSUMER } from '../src/jobs/notifier.js';
import { createContextInner } from '../src/trpc/context.js';
import { createCaller } from '../src/trpc/router.js';
import { callerFor, collect, createStaff, eventually, queueEntryFixture, startTestPhos, type TestPhos, trpcError } from './support.js';

const SKIPPED_MESSAGE = 'skipped an event this build cannot read';

const added = (lastName: string): DomainEvent => ({ type: 'queue.entry.added', payload: { entry: queueEntryFixture(lastName) } });

interface RawRow {
  type: string;
  version: number;
  minor?: number;
  payload: unknown;
}

/** Writes rows as another build would, through the same counter as `appendEvents`: ids stay gapless. */
async function appendRaw(db: Db, rows: readonly RawRow[]): Promise<bigint[]> {
  return db.transaction(async (tx) => {
    const count = BigInt(rows.length);
    const [stream] = await tx
      .insert(eventStreams)
      .values({ stream: CLINIC_STREAM, lastId: count })
      .onConflictDoUpdate({ target: eventStreams.stream, set: { lastId: sql`${eventStreams.lastId} + ${count}` } })
      .returning({ lastId: eventStreams.lastId });
    const first = stream!.lastId - count + 1n;
    const ids = rows.map((_, index) => first + BigInt(index));
    await tx
      .insert(eventLog)
      .values(
        rows.map((row, index) => ({ id: ids[index]!, type: row.type, version: row.version, minor: row.minor ?? 0, payload: row.payload })),
      );
    return ids;
  });
}

interface Received {
  id: bigint;
  change: QueueChange;
}

/** Opens `queue.onChange` as `user` and collects what it yields until closed. */
async function subscribe(phos: TestPhos, user: User, lastEventId?: bigint) {
  const controller = new AbortController();
  const caller = createCaller(createContextInner({ services: phos.services, user }), { signal: controller.signal });
  const stream = await caller.queue.onChange(lastEventId === undefined ? undefined : { lastEventId: lastEventId.toString() });
  const events = collect(stream, { signal: controller.signal });
  return {
    get received(): Received[] {
      return events.received.map(({ id, data }) => ({ id: BigInt(id), change: data }));
    },
    /** Waits until the event named `lastName` arrived, then returns everything so far. */
    async through(lastName: string) {
      const received = await events.waitFor((all) => all.some(({ data }) => data.entry.lastName === lastName));
      return received.map(({ data }) => data.entry.lastName);
    },
    async close() {
      controller.abort();
      await events.ended;
    },
  };
}

describe('an event this build cannot read', () => {
  let phos: TestPhos;
  let provider: User;
  let admin: User;
  const logged: { msg?: string; eventId?: string; [key: string]: unknown }[] = [];
  const rawLog: string[] = [];
  let start: bigint;
  let bad: { unknownType: bigint; newerMajor: bigint; newerMinor: bigint; malformed: bigint };

  beforeAll(async () => {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          rawLog.push(line);
          logged.push(JSON.parse(line) as (typeof logged)[number]);
        }
        callback();
      },
    });
    phos = await startTestPhos({ log: pino({ level: 'warn' }, destination) });
    provider = await createStaff(phos);
    admin = await createStaff(phos, 'Admin');
  });
  afterAll(() => phos.cleanup());

  async function append(...events: DomainEvent[]): Promise<bigint> {
    const lastId = await phos.services.db.transaction((tx) => appendEvents(tx, events));
    phos.services.announce(lastId);
    await phos.hub.pump();
    return lastId;
  }

  it('passes over an unknown type, a newer major and a malformed payload, and delivers a newer minor, to an open subscriber', async () => {
    start = await headEventId(phos.services.db);
    const open = await subscribe(phos, provider);
    try {
      await append(added('Before'));
      const ids = await appendRaw(phos.services.db, [
        { type: 'queue.entry.teleported', version: 1, payload: { entry: queueEntryFixture('Unknown') } },
        { type: 'queue.entry.added', version: 3, payload: { entries: [queueEntryFixture('NewerMajor')] } },
      ]);
      await phos.hub.pump();
      await append(added('Middle'));
      const more = await appendRaw(phos.services.db, [
        {
          type: 'queue.entry.added',
          version: 2,
          minor: 1,
          payload: { entry: { ...queueEntryFixture('NewerMinor'), bed: 'B7' }, source: 'kiosk' },
        },
        { type: 'queue.entry.added', version: 2, payload: { entry: { id: 'not-an-id', lastName: 'Secretname' } } },
      ]);
      bad = { unknownType: ids[0]!, newerMajor: ids[1]!, newerMinor: more[0]!, malformed: more[1]! };
      await append(added('After'));

      expect(await open.through('After')).toEqual(['Before', 'Middle', 'NewerMinor', 'After']);
      const delivered = open.received.map(({ id }) => id);
      expect(delivered).toEqual([start + 1n, start + 4n, start + 5n, start + 7n]);
      const newerMinor = open.received.find(({ id }) => id === bad.newerMinor)!.change.entry;
      expect(newerMinor).not.toHaveProperty('bed');

      // It keeps going: later events arrive, once each.
      await append(added('Later'));
      expect(await open.through('Later')).toEqual(['Before', 'Middle', 'NewerMinor', 'After', 'Later']);
    } finally {
      await open.close();
    }
  });

  it('catches a new subscriber up past them, from before and from between them', async () => {
    const fromStart = await subscribe(phos, provider, start);
    const fromBetween = await subscribe(phos, provider, bad.unknownType);
    try {
      expect(await fromStart.through('Later')).toEqual(['Before', 'Middle', 'NewerMinor', 'After', 'Later']);
      expect(await fromBetween.through('Later')).toEqual(['Middle', 'NewerMinor', 'After', 'Later']);
      await append(added('Live'));
      expect(await fromStart.through('Live')).toEqual(['Before', 'Middle', 'NewerMinor', 'After', 'Later', 'Live']);
      expect(await fromBetween.through('Live')).toEqual(['Middle', 'NewerMinor', 'After', 'Later', 'Live']);
    } finally {
      await fromStart.close();
      await fromBetween.close();
    }
  });

  it('moves the notifier past them, and later notifications still arrive', async () => {
    await appendRaw(phos.services.db, [{ type: 'queue.entry.teleported', version: 1, payload: {} }]);
    await append({ type: 'queue.entry.overdue', payload: { entry: { ...queueEntryFixture('Overdue'), acuity: 3 }, targetMinutes: 30 } });
    const inbox = await eventually(async () => {
      await phos.notifier?.run();
      const { notifications } = await callerFor(phos, provider).notifications.inbox();
      return notifications.some((n) => n.title === 'Past target: Test Overdue') ? notifications : undefined;
    });
    expect(inbox.filter((n) => n.title === 'Past target: Test Overdue')).toHaveLength(1);
    const [position] = await phos.services.db.select().from(eventConsumers).where(eq(eventConsumers.name, NOTIFICATIONS_CONSUMER));
    expect(position!.lastId).toBeGreaterThan(bad.malformed);
  });

  it('shows Admins the head and what was skipped, with no payload, and nobody else', async () => {
    const status = await callerFor(phos, admin).ops.eventLog();
    expect(status.head).toBe((await headEventId(phos.services.db)).toString());
    expect(status.skipped).toBe(4);
    expect(status.lastSkipped.slice(0, 3)).toEqual([
      { id: bad.unknownType.toString(), type: 'queue.entry.teleported', version: '1.0', reason: 'unknown type' },
      {
        id: bad.newerMajor.toString(),
        type: 'queue.entry.added',
        version: '3.0',
        reason: 'newer major version; this build reads up to 2',
      },
      {
        id: bad.malformed.toString(),
        type: 'queue.entry.added',
        version: '2.0',
        reason: expect.stringMatching(/^payload does not match its schema/) as string,
      },
    ]);
    expect(JSON.stringify(status)).not.toContain('Secretname');
    expect((await trpcError(callerFor(phos, provider).ops.eventLog())).code).toBe('FORBIDDEN');
  });

  it('logs each skipped id once, however many readers passed it, and never its payload', () => {
    const skipped = logged.filter((line) => line.msg === SKIPPED_MESSAGE).map((line) => line.eventId);
    expect(skipped.slice(0, 3)).toEqual([bad.unknownType, bad.newerMajor, bad.malformed].map(String));
    expect(skipped).toHaveLength(4);
    expect(new Set(skipped).size).toBe(4);
    expect(rawLog.join('\n')).not.toContain('Secretname');
    expect(rawLog.join('\n')).not.toContain('NewerMinor');
  });

  it('fills a gap before a live page across an unreadable event, without looping or repeating', async () => {
    const db = phos.services.db;
    const from = await headEventId(db);
    // A hub that lost the page holding GapA and the unreadable event, and delivers only the next one.
    let deliver!: (page: LogPage) => void;
    const lostOne = new Promise<LogPage>((resolve) => (deliver = resolve));
    let caughtUp!: () => void;
    const replayDone = new Promise<void>((resolve) => (caughtUp = resolve));
    const hub: EventHub = {
      ...phos.hub,
      listen: () =>
        (async function* () {
          caughtUp(); // the stream replayed the log and now waits on live pages
          yield await lostOne;
        })(),
    };
    const stream = streamEvents(db, hub, from.toString(), undefined);
    const first = stream.next();
    await replayDone;

    await append(added('GapA'));
    await appendRaw(db, [{ type: 'queue.entry.teleported', version: 1, payload: {} }]);
    await append(added('GapB'));
    deliver(await readEventsAfter(db, from + 2n));

    const got: bigint[] = [];
    for (let step = await first; !step.done; step = await stream.next()) got.push(step.value.id);
    expect(got).toEqual([from + 1n, from + 3n]);
  });
});
