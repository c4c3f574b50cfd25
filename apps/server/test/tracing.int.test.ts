import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { eq } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnv } from '../src/env.js';
import { readEventsAfter } from '../src/events/log.js';
import { buildHttpServer } from '../src/http/server.js';
import { outbox } from '../src/outbox/schema.js';
import { redisStatement, startTracing, tracingConfigFromEnv, type Tracing } from '../src/ops/tracing.js';
import { TRACEPARENT_PATTERN } from '../src/trace-context.js';
import { listening, signedIn } from './security/http-support.js';
import { serverSentEvents, type ServerSentEvent } from './sse.js';
import { eventually, patientInput, startTestPhos, usesPostgres, within, type TestPhos } from './support.js';

type HttpServer = Awaited<ReturnType<typeof buildHttpServer>>;

const PG = '@opentelemetry/instrumentation-pg';
const IOREDIS = '@opentelemetry/instrumentation-ioredis';
const FASTIFY = '@fastify/otel';

// First, before the SDK is started below: what a process without an endpoint sees.
describe('tracing off (no OTLP endpoint)', () => {
  it('starts nothing: the configuration says so and the API is the no-op one', () => {
    expect(tracingConfigFromEnv(loadEnv({}))).toBeUndefined();
    expect(
      tracingConfigFromEnv(loadEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' })),
    ).toBeUndefined();
    expect(
      tracingConfigFromEnv(loadEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' })),
    ).toBeUndefined();
    const span = trace.getTracer('phos').startSpan('nothing');
    expect(span.isRecording()).toBe(false);
    expect(span.spanContext().traceId).toBe('00000000000000000000000000000000');
    expect(trace.getActiveSpan()).toBeUndefined();
  });

  it('reads the standard variables: an endpoint, the service name, the role', () => {
    expect(tracingConfigFromEnv(loadEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', PHOS_ROLE: 'worker' }))).toEqual({
      serviceName: 'phos-worker',
      exporter: { otlp: { url: 'http://collector:4318/v1/traces' } },
    });
    expect(
      tracingConfigFromEnv(
        loadEnv({
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp/v1/traces',
          OTEL_SERVICE_NAME: 'phos-eu',
        }),
      ),
    ).toEqual({ serviceName: 'phos-eu', exporter: { otlp: { url: 'https://traces.example/otlp/v1/traces' } } });
    expect(tracingConfigFromEnv(loadEnv({ OTEL_TRACES_EXPORTER: 'console' }))).toEqual({
      serviceName: 'phos-all',
      exporter: { console: true },
    });
    expect(() => loadEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL/);
  });

  it('names a Redis command by its key, never its values', () => {
    expect(redisStatement('set', ['phos:session:abc', 'secret value'])).toBe('set phos:session:abc');
    expect(redisStatement('evalsha', ['0123abcd', 2, 'bull:registrations:wait', 'bull:registrations:meta', '{"name":"x"}'])).toBe(
      'evalsha bull:registrations:wait',
    );
    expect(redisStatement('eval', ['return 1', 0])).toBe('eval');
  });
});

/** Spans as a tree under their roots, one line each: how the issue note shows a trace. */
function printable(spans: readonly ReadableSpan[]): string {
  const ids = new Set(spans.map((span) => span.spanContext().spanId));
  const children = new Map<string | undefined, ReadableSpan[]>();
  for (const span of [...spans].sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1])) {
    const parent = span.parentSpanContext?.spanId;
    const key = parent !== undefined && ids.has(parent) ? parent : undefined;
    children.set(key, [...(children.get(key) ?? []), span]);
  }
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    for (const span of children.get(parent) ?? []) {
      const ms = (span.duration[0] * 1e3 + span.duration[1] / 1e6).toFixed(1);
      lines.push(`${'  '.repeat(depth)}${span.name}  [${span.instrumentationScope.name}] ${span.spanContext().spanId} ${ms} ms`);
      walk(span.spanContext().spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines.join('\n');
}

describe('one registration as one trace (issue 10)', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let phos: TestPhos;
  let server: HttpServer;
  let base: string;
  let cookie: string;

  beforeAll(async () => {
    tracing = await startTracing({ serviceName: 'phos-test', exporter: { processor: new SimpleSpanProcessor(exporter) } });
    phos = await startTestPhos();
    server = await buildHttpServer({ phos, log: pino({ level: 'silent' }), tracing });
    ({ base } = await listening(server));
    ({ cookie } = await signedIn(server, phos, 'Provider'));
  });
  afterAll(async () => {
    await server.close();
    await phos.cleanup();
    await tracing.shutdown();
  });

  it('request, outbox, relay, job, worker transaction, hub and SSE write share one trace id; no patient data in any span', async () => {
    const controller = new AbortController();
    const response = await fetch(`${base}/trpc/queue.onChange`, {
      headers: { accept: 'text/event-stream', cookie },
      signal: controller.signal,
    });
    const events = serverSentEvents(response.body!);
    const next = async (): Promise<ServerSentEvent> => {
      for (;;) {
        const step = await events.next();
        if (step.done === true) throw new Error('the stream ended');
        if (step.value.event !== 'ping') return step.value;
      }
    };
    try {
      expect((await next()).event).toBe('connected');

      const requestId = `trace-${randomUUID()}`;
      const input = patientInput({
        firstName: 'Zephyrine',
        lastName: `Quillfeather${randomUUID().slice(0, 6)}`,
        dateOfBirth: '1979-03-14',
      });
      const registered = await fetch(`${base}/trpc/auth.register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': requestId },
        body: JSON.stringify(input),
      });
      expect(registered.status).toBe(200);

      // The dashboard's stream gets the new queue entry: that write is the trace's last span.
      const pushed = await within(
        'the queue entry reaches the open stream',
        20_000,
        (async () => {
          for (;;) {
            const event = await next();
            if (event.event === 'message' && event.data.includes('queue.entry.added')) return event;
          }
        })(),
      );
      const sseWrite = await eventually(
        () =>
          Promise.resolve(
            exporter.getFinishedSpans().find((span) => span.name === 'sse write' && span.attributes['phos.event.id'] === pushed.id),
          ),
        10_000,
      );
      const traceId = sseWrite.spanContext().traceId;
      // Let the request's last spans end (the response may be sent before its span closes).
      const isRegisterRequest = (span: ReadableSpan) =>
        span.name === 'request' && span.attributes['url.path'] === '/trpc/auth.register' && span.spanContext().traceId === traceId;
      const request = await eventually(() => Promise.resolve(exporter.getFinishedSpans().find(isRegisterRequest)), 10_000);
      const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
      if (process.env.PHOS_PRINT_TRACE) console.log(`trace ${traceId}\n${printable(spans)}`);

      const [row] = await phos.database.db.select().from(outbox).where(eq(outbox.requestId, requestId));
      expect(row?.traceparent).toMatch(TRACEPARENT_PATTERN);
      const registrationId = row!.id;
      // The outbox row was written in the request's trace.
      expect(row!.traceparent!.split('-')[1]).toBe(traceId);

      const named = (name: string) => spans.filter((span) => span.name === name);
      const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
      const [send] = named('send registrations');
      const [job] = named('process registrations');
      expect(send?.attributes['messaging.message.id']).toBe(registrationId);
      expect(job?.attributes['messaging.message.id']).toBe(registrationId);

      // The job carries its delivery's context; the job's span continues it.
      const queued = await phos.queue.getJob(registrationId);
      expect(queued?.data).toEqual({ registrationId, requestId, traceparent: `00-${traceId}-${send!.spanContext().spanId}-01` });
      expect(parentOf(job!)).toBe(send!.spanContext().spanId);

      // The worker's transaction is in the job's span; the hub's push is under the job, the stream's write under the push.
      const commits = named('commit events').filter((span) => parentOf(span) === job!.spanContext().spanId);
      expect(commits).toHaveLength(1);
      const push = named('push event').find((span) => span.attributes['phos.event.id'] === pushed.id);
      expect(push?.attributes['phos.event.type']).toBe('queue.entry.added');
      expect(parentOf(push!)).toBe(job!.spanContext().spanId);
      expect(parentOf(sseWrite)).toBe(push!.spanContext().spanId);
      // The write is linked to the dashboard's own request, which is a trace of its own.
      expect(sseWrite.links).toHaveLength(1);
      expect(sseWrite.links[0]!.context.traceId).not.toBe(traceId);

      // The events the job appended carry the job's span.
      const page = await readEventsAfter(phos.database.db, BigInt(pushed.id!) - 1n, { uptoId: BigInt(pushed.id!) });
      expect(page.events[0]?.meta).toEqual({ requestId, traceparent: `00-${traceId}-${job!.spanContext().spanId}-01` });

      // The request is the root, from @fastify/otel; ioredis spans from the standard instrumentation, in the
      // request (the registration throttle), the relay (BullMQ's add) and the job (the announce).
      expect(request.instrumentationScope.name).toBe(FASTIFY);
      expect(parentOf(request)).toBeUndefined();
      const redis = spans.filter((span) => span.instrumentationScope.name === IOREDIS);
      expect(redis.some((span) => parentOf(span) === send!.spanContext().spanId)).toBe(true);
      expect(redis.some((span) => span.name === 'publish')).toBe(true);
      if (usesPostgres) {
        // pg spans from the standard instrumentation: the outbox insert in the request, the job's queries in its transaction.
        const queries = spans.filter((span) => span.instrumentationScope.name === PG);
        const text = (span: ReadableSpan) => String(span.attributes['db.query.text'] ?? span.attributes['db.statement'] ?? '');
        expect(queries.some((span) => /insert into "outbox"/i.test(text(span)))).toBe(true);
        expect(queries.some((span) => parentOf(span) === commits[0]!.spanContext().spanId)).toBe(true);
      }
      // PGlite (the embedded run) is not the pg driver: no database spans there, only the transaction's own.

      // Ids only: nothing the patient typed is in any span this process recorded.
      const recorded = JSON.stringify(
        exporter.getFinishedSpans().map((span) => ({
          name: span.name,
          attributes: span.attributes,
          events: span.events,
          status: span.status,
          resource: span.resource.attributes,
        })),
      );
      for (const value of [input.firstName, input.lastName, input.email, input.dateOfBirth, input.password]) {
        expect(recorded).not.toContain(value);
      }
    } finally {
      controller.abort();
    }
  });
});
