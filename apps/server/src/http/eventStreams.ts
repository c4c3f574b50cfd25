import { once } from 'node:events';
import {
  getErrorShape,
  getTRPCErrorFromUnknown,
  isTrackedEnvelope,
  TRPCError,
  type AnyTRPCProcedure,
  type AnyTRPCRouter,
  type TRPCError as TRPCErrorType,
} from '@trpc/server';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { inSpan, linksToActive } from '../trace-context.js';
import type { Context } from '../trpc/context.js';
import { isTrpcRequest, proceduresOf } from './hardening.js';

/**
 * tRPC subscriptions served over SSE by Phos itself, in tRPC's own wire format, so the web's
 * `httpSubscriptionLink` reads them unchanged (docs/decisions/014-event-streams-written-once.md).
 *
 * tRPC's SSE producer costs about 0.2 ms of CPU per message per subscriber: each message goes
 * through three web streams in four chunks, a ping timer and a JSON.stringify of its own. A queue
 * event for 1,000 dashboards cost 200 ms. Here a procedure is still called through tRPC (every
 * middleware, the audit trail, input parsing and errors as on any call), but each message is one
 * write to the socket, and a value many streams share (a queue change) is serialised once for all.
 */

/** What tRPC's `sse` option and client expect; read from the router so the two cannot drift. */
interface SseConfig {
  pingIntervalMs: number | null;
  connected: string;
}

function sseConfigOf(router: AnyTRPCRouter): SseConfig {
  const sse = (router._def._config as { sse?: { ping?: { enabled?: boolean; intervalMs?: number }; client?: object } }).sse;
  const ping = sse?.ping?.enabled ? (sse.ping.intervalMs ?? 1000) : null;
  return { pingIntervalMs: ping, connected: JSON.stringify(sse?.client ?? {}) };
}

/** A value's JSON, computed once however many streams send it (for objects; a primitive is cheap). */
const serialised = new WeakMap<object, string>();

function serialiseOnce(value: unknown, serialize: (value: unknown) => unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(serialize(value));
  let json = serialised.get(value);
  if (json === undefined) {
    json = JSON.stringify(serialize(value));
    serialised.set(value, json);
  }
  return json;
}

/**
 * A tracked value's whole SSE block, encoded once however many streams send it: the same queue
 * change goes to every dashboard with the same id, so after the first stream each write is a copy.
 */
const trackedBlocks = new WeakMap<object, { id: string; bytes: Buffer }>();

function trackedBlock(id: string, data: unknown, serialize: (value: unknown) => unknown): string | Buffer {
  if (typeof data !== 'object' || data === null) return block({ data: JSON.stringify(serialize(data)), id });
  const cached = trackedBlocks.get(data);
  if (cached?.id === id) return cached.bytes;
  const bytes = Buffer.from(block({ data: serialiseOnce(data, serialize), id }));
  trackedBlocks.set(data, { id, bytes });
  return bytes;
}

/** `Last-Event-ID`, as tRPC reads it: the header an EventSource sends on reconnect, or the query. */
function lastEventIdOf(request: FastifyRequest, query: URLSearchParams): string | null {
  const header = request.headers['last-event-id'];
  return (typeof header === 'string' ? header : null) ?? query.get('lastEventId') ?? query.get('Last-Event-Id');
}

/** The subscription's input from `?input=`, with the last event id merged in as tRPC does. */
function inputOf(router: AnyTRPCRouter, query: URLSearchParams, lastEventId: string | null): unknown {
  const raw = query.get('input');
  let input: unknown;
  if (raw !== null) {
    try {
      input = router._def._config.transformer.input.deserialize(JSON.parse(raw));
    } catch (cause) {
      throw new TRPCError({ code: 'PARSE_ERROR', message: 'The input is not valid JSON', cause });
    }
  }
  if (!lastEventId) return input;
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) return { ...input, lastEventId };
  return input ?? { lastEventId };
}

/**
 * How long a stream's EventSource waits before it reconnects once the stream ends (a drain ends them
 * all at once), spread over [500, 2500) ms per stream, so the clients of a draining instance do not
 * all arrive together at the next one; the browsers' default (about 3 s) would bring them in one wave.
 */
export function spreadReconnectDelayMs(minMs = 500, maxMs = 2500): number {
  return Math.round(minMs + Math.random() * (maxMs - minMs));
}

const GONE = Symbol('client gone');

/**
 * The iterator's next step, or GONE as soon as the response closes (the client left) while it
 * waits; the procedure sees its signal abort and is left to finish on its own. One listener per
 * step, removed with it: racing every step against one long-lived "closed" promise would leave a
 * reaction on it per message for as long as the stream lives.
 */
function nextUnlessGone<T>(iterator: AsyncIterator<T>, res: ServerResponse): Promise<IteratorResult<T> | typeof GONE> {
  if (res.destroyed) return Promise.resolve(GONE);
  return new Promise((resolve, reject) => {
    const gone = () => {
      resolve(GONE);
      next
        .then(
          () => iterator.return?.(),
          () => undefined,
        )
        .catch(() => undefined);
    };
    res.once('close', gone);
    const next = iterator.next();
    next.then(
      (step) => {
        res.off('close', gone);
        resolve(step);
      },
      (error: unknown) => {
        res.off('close', gone);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** A stream that fails at once: how a procedure that refused to start is told, as tRPC tells it. */
function failing(error: unknown): AsyncIterable<never> {
  return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error instanceof Error ? error : new Error(String(error))) }) };
}

/** An SSE block: one write, in the field order tRPC's producer uses. */
function block(fields: { event?: string; data?: string; id?: string; retry?: number }): string {
  let text = '';
  if (fields.retry !== undefined) text += `retry: ${fields.retry}\n`;
  if (fields.event !== undefined) text += `event: ${fields.event}\n`;
  if (fields.data !== undefined) text += `data: ${fields.data}\n`;
  if (fields.id !== undefined) text += `id: ${fields.id}\n`;
  return `${text}\n`;
}

/** Writes `text`; waits while the socket's buffer is full, so a slow reader is not buffered without bound. */
async function write(res: ServerResponse, text: string | Buffer, closed: Promise<unknown>): Promise<void> {
  if (res.write(text)) return;
  await Promise.race([once(res, 'drain'), closed]);
}

export interface EventStreamOptions {
  router: AnyTRPCRouter;
  /** The request's context; throws as tRPC's createContext would (tRPC then answers the request instead). */
  createContext: (request: FastifyRequest, reply: FastifyReply) => Promise<Context>;
  /** Calls the procedure at `path` with the context, as a tRPC caller does. */
  call: (ctx: Context, path: string, input: unknown, signal: AbortSignal) => Promise<unknown>;
  /** Told of every error a stream ends with, as tRPC's `onError` is. */
  onError: (error: TRPCErrorType, path: string, ctx: Context) => void;
  /** The `retry:` each stream starts with (default `spreadReconnectDelayMs`). */
  reconnectDelayMs?: () => number;
}

/**
 * Serves every subscription procedure of `router` requested over GET at `/trpc/<path>`: the
 * request passes every hook of the tRPC route (headers, same-origin, GET for streams only) and is
 * then answered here instead of by tRPC's handler.
 */
export function serveEventStreams(
  app: FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>,
  options: EventStreamOptions,
): void {
  const { router } = options;
  const config = sseConfigOf(router);
  const procedures = router._def.procedures as Record<string, AnyTRPCProcedure>;
  const serialize = (value: unknown) => router._def._config.transformer.output.serialize(value) as unknown;

  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'GET' || !isTrpcRequest(request)) return;
    const paths = proceduresOf(request);
    const path = paths[0];
    if (paths.length !== 1 || !path || procedures[path]?._def.type !== 'subscription') return;
    if (new URL(request.url, 'http://phos').searchParams.has('batch')) return; // tRPC refuses a batched stream itself

    let ctx: Context;
    try {
      ctx = await options.createContext(request, reply);
    } catch {
      return; // tRPC's handler creates the context again, fails the same way and answers as it always does
    }
    reply.hijack();
    await stream(request, reply, ctx, path);
  });

  async function stream(request: FastifyRequest, reply: FastifyReply, ctx: Context, path: string): Promise<void> {
    const res = reply.raw;
    const left = new AbortController();
    const closed = once(res, 'close').then(() => left.abort());
    // The client leaving aborts the procedure's signal; `nextUnlessGone` stops waiting on it at once.
    const query = new URL(request.url, 'http://phos').searchParams;
    const requestedId = lastEventIdOf(request, query);

    let iterable: AsyncIterable<unknown>;
    try {
      iterable = (await options.call(ctx, path, inputOf(router, query, requestedId), left.signal)) as AsyncIterable<unknown>;
    } catch (error) {
      iterable = failing(error);
    }

    // The headers the route's hooks set (request id, CSP and friends), then the stream's own.
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) res.setHeader(name, value);
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      // API answers carry health data: no browser or proxy keeps a copy, nor compresses a stream.
      'cache-control': 'no-store, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.flushHeaders();
    const retry = (options.reconnectDelayMs ?? spreadReconnectDelayMs)();
    await write(res, block({ retry, event: 'connected', data: config.connected }), closed);

    let lastWriteAt = Date.now();
    const ping =
      config.pingIntervalMs === null
        ? undefined
        : setInterval(
            () => {
              if (Date.now() - lastWriteAt < (config.pingIntervalMs ?? 0) || res.writableNeedDrain) return;
              res.write(block({ event: 'ping', data: '' }));
              lastWriteAt = Date.now();
            },
            Math.max(250, config.pingIntervalMs / 4),
          );
    const iterator = iterable[Symbol.asyncIterator]();
    // Tracing on: each write of a traced event is a span under the hub's push of it, linked to this stream's request.
    const links = linksToActive();
    // As tRPC's producer: a reconnect's id is the stream's until a tracked value replaces it.
    let lastEventId = requestedId && !/[\0\n\r]/.test(requestedId) ? requestedId : null;
    try {
      for (;;) {
        const step = await nextUnlessGone(iterator, res);
        if (step === GONE) return;
        if (step.done) {
          await write(res, block({ event: 'return', data: '' }), closed);
          return;
        }
        const value: unknown = step.value;
        if (isTrackedEnvelope(value)) {
          const [id, data] = value;
          lastEventId = String(id);
          const bytes = trackedBlock(lastEventId, data, serialize);
          const pushed = ctx.services.hub.traceOf(lastEventId);
          if (pushed === undefined) await write(res, bytes, closed);
          else {
            const attributes = { 'phos.event.id': lastEventId, 'rpc.method': path };
            await inSpan('sse write', { attributes, links }, pushed, () => write(res, bytes, closed));
          }
        } else if (lastEventId === null) {
          await write(res, block({ data: serialiseOnce(value, serialize) }), closed);
        } else {
          // An untracked value after a tracked one: tRPC clears the id, then restores it.
          await write(
            res,
            block({ data: serialiseOnce(value, serialize), id: '' }) + block({ event: 'restore-id', data: '', id: lastEventId }),
            closed,
          );
        }
        lastWriteAt = Date.now();
      }
    } catch (cause) {
      if (left.signal.aborted) return;
      const error = getTRPCErrorFromUnknown(cause);
      options.onError(error, path, ctx);
      const shape: unknown = getErrorShape({ config: router._def._config, error, type: 'subscription', path, input: undefined, ctx });
      await write(res, block({ event: 'serialized-error', data: JSON.stringify(serialize(shape)) }), closed);
    } finally {
      clearInterval(ping);
      if (!res.writableEnded) res.end();
    }
  }
}
