import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Context,
  type Link,
  type Span,
  type SpanOptions,
} from '@opentelemetry/api';
import { errorCode, redactedErrorText } from './logging.js';

/**
 * Trace context across the places a registration waits (the outbox row, the job, the event log),
 * as a W3C `traceparent`: ids only. Code here uses the OpenTelemetry API alone; the SDK is started,
 * or not, by ops/tracing.ts. Without it the API is a no-op: no span is ever active, so each helper
 * returns after one check and nothing is written to a row or a job.
 */
const tracer = trace.getTracer('phos');

/** `version-traceid-spanid-flags`, as the W3C Trace Context spec writes it. */
export const TRACEPARENT_PATTERN = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/;

/** The active span's traceparent; undefined outside any span, which is always when tracing is off. */
export function activeTraceparent(): string | undefined {
  if (trace.getActiveSpan() === undefined) return undefined;
  return traceparentIn(context.active());
}

/** The traceparent of `span`, to hand on to what it leads to. */
export function traceparentOf(span: Span): string | undefined {
  return traceparentIn(parentOf(span));
}

function traceparentIn(ctx: Context): string | undefined {
  const carrier: { traceparent?: string } = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent;
}

/** The context a stored traceparent names, as the remote parent of what runs under it. */
export function contextOf(traceparent: string): Context {
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** A link to the active span, for a span of another trace that it led to; none when tracing is off. */
export function linksToActive(): Link[] {
  const span = trace.getActiveSpan();
  return span === undefined ? [] : [{ context: span.spanContext() }];
}

/** A context whose parent is `span`, for spans started later, elsewhere. */
export function parentOf(span: Span): Context {
  return trace.setSpan(ROOT_CONTEXT, span);
}

/** Runs `work` with `parent` as the active context; as it is when there is none. */
export function withParent<T>(parent: Context | undefined, work: () => T): T {
  return parent === undefined ? work() : context.with(parent, work);
}

/** Starts a span under `parent`, to be ended by the caller. */
export function startSpan(name: string, options: SpanOptions, parent: Context): Span {
  return tracer.startSpan(name, options, parent);
}

/**
 * Marks `span` failed with what went wrong, redacted: an exception's message or stack can quote
 * a query's values, and a span is kept by whatever backend receives it.
 */
export function spanFailed(span: Span, error: unknown): void {
  span.setAttribute('error.type', errorCode(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: redactedErrorText(error) });
}

/** Runs `work` as the active span `name` under `parent`, ending it when `work` settles. */
export async function inSpan<T>(name: string, options: SpanOptions, parent: Context, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, options, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      spanFailed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Runs `work` in a child span of the active one; with none active (tracing off), just runs it. */
export async function inChildSpan<T>(name: string, options: SpanOptions, work: () => Promise<T>): Promise<T> {
  if (trace.getActiveSpan() === undefined) return work();
  return inSpan(name, options, context.active(), work);
}
