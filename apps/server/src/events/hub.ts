import { EventEmitter } from 'node:events';
import type { Context, Span } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { coalesce } from '../coalesce.js';
import { createErrorReporter } from '../logging.js';
import { contextOf, parentOf, startSpan } from '../trace-context.js';
import { AppError } from '../errors.js';
import { headEventId, readEventsAfter, type LogPage } from './log.js';
import { createUnreadableEvents, type UnreadableEvents } from './unreadable.js';

const BATCH = 'batch';

/** How many pages a listener may leave unread before it is ended (see `listen`). */
export const DEFAULT_MAX_BACKLOG_PAGES = 256;

export interface EventHub {
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Pages of newly committed events, in id order, from the moment of the call. Each covers the
   * ids after the previous one's `lastId`, unreadable ones included, so a listener's position
   * moves past those too. Ends as soon as `signal` aborts, dropping what it had not read; fails
   * with BUSY (retryable: the client reconnects from its last id) once it falls too far behind.
   */
  listen(signal: AbortSignal | undefined): AsyncIterable<LogPage>;
  /** How many listeners are open now: each one a subscription of this process. */
  listenerCount(): number;
  /** Reads the log now; pub/sub messages and a safety timer call it too. */
  pump(): Promise<void>;
  /** What this process skipped, shared by its hub, its subscriptions and its notifier. */
  readonly unreadable: UnreadableEvents;
  /** The span that pushed a recent traced event (by id), for the streams that write it to be its children. */
  traceOf(eventId: string): Context | undefined;
}

/** How many recently pushed events' trace contexts the hub keeps for its streams to find. */
const TRACED_EVENTS_KEPT = 1000;

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
export function createEventHub(options: {
  db: Db;
  subscriber: Redis;
  prefix: string;
  log: Logger;
  safetyIntervalMs?: number;
  /** Pages a listener may leave unread; past that it is ended (tests lower it). */
  maxBacklogPages?: number;
}): EventHub {
  const { db, subscriber, prefix, log, safetyIntervalMs = 2000, maxBacklogPages = DEFAULT_MAX_BACKLOG_PAGES } = options;
  const unreadable = createUnreadableEvents(log);
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  let cursor = 0n;
  let timer: NodeJS.Timeout | undefined;
  /** Only events that carry a traceparent (tracing on) come here; oldest first. */
  const traced = new Map<string, Context>();

  /**
   * A span per traced event, from the read of its page (`startTime`) until it is handed to every
   * listener, under the span that appended it. One per event, however many streams write it.
   */
  function startPushSpans(page: LogPage, startTime: number): Span[] | undefined {
    let spans: Span[] | undefined;
    for (const event of page.events) {
      if (event.meta.traceparent === undefined) continue;
      const id = event.id.toString();
      const span = startSpan(
        'push event',
        { startTime, attributes: { 'phos.event.id': id, 'phos.event.type': event.type, 'phos.listeners': emitter.listenerCount(BATCH) } },
        contextOf(event.meta.traceparent),
      );
      traced.set(id, parentOf(span));
      if (traced.size > TRACED_EVENTS_KEPT) traced.delete(traced.keys().next().value ?? id);
      (spans ??= []).push(span);
    }
    return spans;
  }

  // Reads and emits every event, listeners or not: skipping ahead to the head while nobody
  // listens could pass over an event a subscription starting at that moment has not replayed.
  async function readNew(): Promise<void> {
    for (;;) {
      const readAt = Date.now();
      const page = await readEventsAfter(db, cursor, { limit: 500 });
      if (page.lastId === cursor) return;
      unreadable.record(page.unreadable);
      cursor = page.lastId;
      const pushes = startPushSpans(page, readAt);
      emitter.emit(BATCH, page);
      if (pushes) for (const span of pushes) span.end();
    }
  }

  // Rate limited: while the database or Redis is away, every pass fails.
  const errors = createErrorReporter(log);
  const { run: pump, idle } = coalesce(readNew, (error) =>
    errors.report('reading the event log failed; retrying on the next signal', error),
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
    listen: (signal) => listenBounded(emitter, signal, maxBacklogPages),
    listenerCount: () => emitter.listenerCount(BATCH),
    traceOf: (eventId) => traced.get(eventId),
  };
}

/** Why a listener was ended: it fell behind. Says nothing about what it was watching. */
function fellBehind(): AppError {
  return new AppError('BUSY', 'This live view fell behind; reconnecting');
}

/**
 * One listener's pages. The listener is registered now, not on the first `next()`: nothing
 * committed after this call can slip past a subscription that replays the log before iterating.
 * Its buffer holds at most `maxPages`: a subscriber that cannot keep up (a stalled client, a
 * full socket) is ended rather than let grow without bound, and its buffer is dropped; it
 * reconnects with its last event id and replays from the log, so it loses nothing. An abort
 * ends it at once, buffered pages dropped, and removes it from the emitter.
 */
function listenBounded(emitter: EventEmitter, signal: AbortSignal | undefined, maxPages: number): AsyncIterableIterator<LogPage> {
  let backlog: LogPage[] = [];
  let state: 'open' | 'behind' | 'closed' = signal?.aborted ? 'closed' : 'open';
  let wake: (() => void) | undefined;

  function notify() {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  }

  function detach() {
    emitter.off(BATCH, onPage);
    signal?.removeEventListener('abort', close);
    backlog = [];
    notify();
  }

  function close() {
    if (state === 'open') state = 'closed';
    detach();
  }

  function onPage(page: LogPage) {
    if (backlog.length >= maxPages) {
      state = 'behind';
      detach();
      return;
    }
    backlog.push(page);
    notify();
  }

  if (state === 'open') {
    emitter.on(BATCH, onPage);
    signal?.addEventListener('abort', close, { once: true });
  }

  const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next(): Promise<IteratorResult<LogPage, undefined>> {
      for (;;) {
        if (state === 'closed') return done;
        const page = backlog.shift();
        if (page) return { done: false, value: page };
        if (state === 'behind') {
          state = 'closed';
          throw fellBehind();
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    return(): Promise<IteratorResult<LogPage, undefined>> {
      close();
      return Promise.resolve(done);
    },
  };
}
