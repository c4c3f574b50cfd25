import { EventEmitter, on } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { coalesce } from '../coalesce.js';
import { headEventId, readEventsAfter, type LogPage } from './log.js';
import { createUnreadableEvents, type UnreadableEvents } from './unreadable.js';

const BATCH = 'batch';

export interface EventHub {
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Pages of newly committed events, in id order, from the moment of the call. Each covers the
   * ids after the previous one's `lastId`, unreadable ones included, so a listener's position
   * moves past those too.
   */
  listen(signal: AbortSignal | undefined): AsyncIterable<LogPage>;
  /** Reads the log now; pub/sub messages and a safety timer call it too. */
  pump(): Promise<void>;
  /** What this process skipped, shared by its hub, its subscriptions and its notifier. */
  readonly unreadable: UnreadableEvents;
}

export function eventsChannel(prefix: string): string {
  return `${prefix}:events`;
}

/** Tells every api instance that events up to `lastId` are committed. Carries an id, nothing else. */
export async function publishCommitted(redis: Redis, prefix: string, lastId: bigint): Promise<void> {
  await redis.publish(eventsChannel(prefix), lastId.toString());
}

/**
 * One reader of the event log per api instance, shared by all its subscriptions. Redis pub/sub
 * only wakes it; the log is the source of truth, so a dropped message delays an event by at most
 * one safety interval and loses nothing.
 */
export function createEventHub(options: { db: Db; subscriber: Redis; prefix: string; log: Logger; safetyIntervalMs?: number }): EventHub {
  const { db, subscriber, prefix, log, safetyIntervalMs = 2000 } = options;
  const unreadable = createUnreadableEvents(log);
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  let cursor = 0n;
  let timer: NodeJS.Timeout | undefined;

  // Reads and emits every event, listeners or not: skipping ahead to the head while nobody
  // listens could pass over an event a subscription starting at that moment has not replayed.
  async function readNew(): Promise<void> {
    for (;;) {
      const page = await readEventsAfter(db, cursor, { limit: 500 });
      if (page.lastId === cursor) return;
      unreadable.record(page.unreadable);
      cursor = page.lastId;
      emitter.emit(BATCH, page);
    }
  }

  const { run: pump, idle } = coalesce(readNew, (error) =>
    log.warn({ err: error }, 'reading the event log failed; retrying on the next signal'),
  );

  const onMessage = () => void pump();
  const onReady = () => void pump();

  return {
    async start() {
      cursor = await headEventId(db);
      subscriber.on('message', onMessage);
      subscriber.on('ready', onReady);
      await subscriber.subscribe(eventsChannel(prefix));
      timer = setInterval(() => void pump(), safetyIntervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      subscriber.off('message', onMessage);
      subscriber.off('ready', onReady);
      await idle();
    },
    pump,
    unreadable,
    listen(signal) {
      // `on` registers its listener now, not on the first `next()`: nothing committed after this
      // call can slip past a subscription that replays the log before iterating.
      const batches = on(emitter, BATCH, { signal });
      return (async function* () {
        try {
          for await (const [page] of batches) yield page as LogPage;
        } catch (error) {
          if (signal?.aborted) return;
          throw error;
        }
      })();
    },
  };
}
