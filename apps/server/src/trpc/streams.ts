import { TRPCError } from '@trpc/server';
import { appErrorCodes } from '@phos/shared';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { coalesce } from '../coalesce.js';
import { AppError } from '../errors.js';
import { liveSessionHolders, type StreamHolder } from '../identity/sessions.js';
import { createErrorReporter } from '../logging.js';
import type { Services } from '../services.js';

export function revocationsChannel(prefix: string): string {
  return `${prefix}:sessions:revoked`;
}

/**
 * Tells every api instance that sessions were signed out, disabled or re-roled, so each checks
 * its open streams now. Carries nothing: the sessions table says which ones ended.
 */
export async function publishRevoked(redis: Redis, prefix: string): Promise<void> {
  await redis.publish(revocationsChannel(prefix), '');
}

const ENDED = Symbol('session ended');
const RESTARTING = Symbol('server restarting');
type EndReason = typeof ENDED | typeof RESTARTING;

export interface OpenStream {
  /** Aborts when the stream closes: its session ended, this instance drains, or its client left. */
  readonly signal: AbortSignal;
  /** Resolves when the server ends the stream: its session ended, or this instance drains (not when its client left). */
  readonly sessionEnded: Promise<EndReason>;
  /** Whether its session has ended, now. */
  readonly hasSessionEnded: () => boolean;
  /** Whether the server ended it, for either reason, now. */
  readonly wasEnded: () => EndReason | null;
  /** Frees the stream's slot; safe to call more than once. */
  readonly close: () => void;
}

export interface StreamRegistry {
  /** Claims one of the session's stream slots on this instance for `procedure`, or throws TOO_MANY_STREAMS. */
  open(holder: StreamHolder, procedure?: string): OpenStream;
  /** Ends every stream whose session is no longer live, in one query. */
  check(): Promise<void>;
  /** Open streams on this instance, of one session or of all. */
  openCount(tokenHash?: string): number;
  /** Open streams on this instance by procedure (`queue.onChange`, …), for metrics. */
  openByProcedure(): Map<string, number>;
  /**
   * For a shutdown: ends every open stream with SERVER_RESTARTING, which the client takes as
   * "reconnect" (to another instance, from its last event id), and refuses new ones the same way.
   */
  drain(): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * This api instance's open streams, by session. Each session is re-checked every
 * `checkIntervalMs` (the guarantee: pub/sub may drop a message) and whenever any instance
 * publishes a revocation (the fast path), so a stream lives no longer than its session.
 */
export function createStreamRegistry(options: {
  db: Db;
  /** A connection this registry may put in subscriber mode; none in a process without streams. */
  subscriber?: Redis | undefined;
  prefix: string;
  log: Logger;
  maxPerSession: number;
  checkIntervalMs?: number;
}): StreamRegistry {
  const { db, subscriber, prefix, log, maxPerSession, checkIntervalMs = 1000 } = options;
  const open = new Map<string, Set<{ holder: StreamHolder; procedure: string; end: (reason: EndReason) => void; close: () => void }>>();
  let timer: NodeJS.Timeout | undefined;
  let draining = false;

  // Rate limited: while the database or Redis is away, every pass fails.
  const errors = createErrorReporter(log);
  const checker = coalesce(
    async () => {
      if (open.size === 0) return;
      // Only the sessions asked about: one whose first stream opens while the query runs is not in
      // its answer, and is not ended for that (it was checked as it opened, and is on the next tick).
      const asked = [...open.keys()];
      const live = await liveSessionHolders(db, asked);
      for (const tokenHash of asked) {
        const now = live.get(tokenHash);
        for (const stream of open.get(tokenHash) ?? []) {
          if (now?.userId !== stream.holder.userId || now.role !== stream.holder.role) stream.end(ENDED);
        }
      }
    },
    (error) => errors.report('checking open streams failed; retrying on the next tick', error),
  );

  const onMessage = (channel: string) => {
    if (channel === revocationsChannel(prefix)) void checker.run();
  };
  // Messages sent while Redis was away are lost: check once it is back.
  const onReady = () => void checker.run();

  return {
    open(holder, procedure = 'unknown') {
      if (draining) throw new AppError('SERVER_RESTARTING');
      const streams = open.get(holder.tokenHash) ?? new Set();
      if (streams.size >= maxPerSession) throw new AppError('TOO_MANY_STREAMS');
      open.set(holder.tokenHash, streams);
      const controller = new AbortController();
      let ended!: (value: EndReason) => void;
      const sessionEnded = new Promise<EndReason>((resolve) => (ended = resolve));
      let endedBecause: EndReason | null = null;
      const close = () => {
        streams.delete(entry);
        if (streams.size === 0 && open.get(holder.tokenHash) === streams) open.delete(holder.tokenHash);
        controller.abort();
      };
      const entry = {
        holder,
        procedure,
        close,
        end: (reason: EndReason) => {
          endedBecause ??= reason;
          ended(endedBecause);
          close();
        },
      };
      streams.add(entry);
      return {
        signal: controller.signal,
        sessionEnded,
        hasSessionEnded: () => endedBecause === ENDED,
        wasEnded: () => endedBecause,
        close,
      };
    },
    check: () => checker.run(),
    openByProcedure() {
      const counts = new Map<string, number>();
      for (const streams of open.values()) for (const { procedure } of streams) counts.set(procedure, (counts.get(procedure) ?? 0) + 1);
      return counts;
    },
    openCount(tokenHash) {
      if (tokenHash !== undefined) return open.get(tokenHash)?.size ?? 0;
      let total = 0;
      for (const streams of open.values()) total += streams.size;
      return total;
    },
    drain() {
      draining = true;
      for (const streams of [...open.values()]) for (const stream of [...streams]) stream.end(RESTARTING);
    },
    async start() {
      timer = setInterval(() => void checker.run(), checkIntervalMs);
      timer.unref();
      if (!subscriber) return;
      subscriber.on('message', onMessage);
      subscriber.on('ready', onReady);
      await subscriber.subscribe(revocationsChannel(prefix));
    },
    async stop() {
      clearInterval(timer);
      subscriber?.off('message', onMessage);
      subscriber?.off('ready', onReady);
      await checker.idle();
    },
  };
}

function endedError(reason: EndReason): TRPCError {
  return appErrorAsTrpc(new AppError(reason === ENDED ? 'SESSION_ENDED' : 'SERVER_RESTARTING'));
}

function appErrorAsTrpc(cause: AppError): TRPCError {
  return new TRPCError({ code: appErrorCodes[cause.appCode], message: cause.message, cause });
}

/**
 * The services as a stream sees them: its hub listeners and board watches stop when the stream
 * closes. Every subscription waits on one or the other, so ending a stream releases it even while
 * it waits for events. Both stay the process's own: only the signal is the stream's.
 */
export function servicesUntil(services: Services, streamSignal: AbortSignal): Services {
  const until = (signal: AbortSignal | undefined) => (signal ? AbortSignal.any([signal, streamSignal]) : streamSignal);
  const { hub, visits } = services;
  return {
    ...services,
    hub: { ...hub, listen: (signal) => hub.listen(until(signal)) },
    visits: { watch: (signal, userId) => visits.watch(until(signal), userId) },
  };
}

/**
 * Passes `inner` on until the stream's session ends, then fails with SESSION_ENDED, so the
 * client learns why (an error, not a silent close) and goes to sign-in. When this instance
 * drains it fails with SERVER_RESTARTING (SERVICE_UNAVAILABLE): tRPC's client counts that code
 * as retryable and keeps the subscription, and the response ends without tRPC's `return` event
 * (which would stop the client for good), so the EventSource reconnects, through the load
 * balancer to another instance, sending the last tracked id as Last-Event-ID: no gap.
 *
 * An AppError the stream fails with is mapped to its tRPC code, as calls have theirs mapped by the
 * procedure middleware: a retryable one (the hub's "fell behind" BUSY) then reaches the client as
 * SERVICE_UNAVAILABLE, and its EventSource reconnects from its last id.
 *
 * A plain iterator rather than a generator, and no `Promise.race` against `sessionEnded` per value
 * (each race would leave a reaction on that long-lived promise until the stream ends): this sits
 * on every message of every stream, 1,000 dashboards times every queue event.
 */
export function untilSessionEnds<T>(inner: AsyncIterable<T>, stream: OpenStream): AsyncIterableIterator<T> {
  const iterator = inner[Symbol.asyncIterator]();
  const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
  let finished = false;
  /** Fails the `next()` waiting now, if any: how a stream whose session ends learns it at once. */
  let failPending: ((error: unknown) => void) | undefined;

  function finish(): void {
    if (finished) return;
    finished = true;
    stream.close();
    // The step in flight ends with the stream's signal; its outcome no longer matters.
    void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }

  void stream.sessionEnded.then((reason) => {
    failPending?.(endedError(reason));
    finish();
  });

  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next(): Promise<IteratorResult<T, undefined>> {
      if (finished) {
        const ended = stream.wasEnded();
        return ended ? Promise.reject(endedError(ended)) : Promise.resolve(done);
      }
      return new Promise<IteratorResult<T, undefined>>((resolve, reject) => {
        failPending = reject;
        iterator.next().then(
          (step) => {
            failPending = undefined;
            // The resolver may also stop on its own once the stream's signal aborts: still the server's end.
            const ended = stream.wasEnded();
            if (ended) {
              finish();
              reject(endedError(ended));
            } else if (step.done) {
              finish();
              resolve(done);
            } else {
              resolve(step);
            }
          },
          (error: unknown) => {
            failPending = undefined;
            finish();
            reject(error instanceof AppError ? appErrorAsTrpc(error) : error instanceof Error ? error : new Error(String(error)));
          },
        );
      });
    },
    return(): Promise<IteratorResult<T, undefined>> {
      finish();
      return Promise.resolve(done);
    },
  };
}
