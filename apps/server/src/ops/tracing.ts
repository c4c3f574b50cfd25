import { createRequire } from 'node:module';
import { SpanStatusCode } from '@opentelemetry/api';
import type { Span, SpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { FastifyPluginCallback } from 'fastify';

/**
 * OpenTelemetry tracing (docs/decisions/016-tracing.md). Started only when the standard OTel
 * variables ask for an exporter; otherwise nothing here is loaded and the API stays a no-op.
 */
export interface TracingConfig {
  serviceName: string;
  /** OTLP over HTTP (protobuf) to `url`; the console (a developer's look); or a processor of the caller's (tests). */
  exporter: { otlp: { url: string } } | { console: true } | { processor: SpanProcessor };
}

export interface Tracing {
  /** @fastify/otel's plugin: register it on the Fastify instance before its routes. */
  fastifyPlugin(): FastifyPluginCallback;
  /** Sends what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** The variables env.ts parses for tracing. */
interface TracingEnv {
  OTEL_SDK_DISABLED: boolean;
  OTEL_TRACES_EXPORTER?: 'otlp' | 'console' | 'none' | undefined;
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
  OTEL_SERVICE_NAME?: string | undefined;
  PHOS_ROLE: 'all' | 'api' | 'worker';
}

/**
 * What the environment asks for, or undefined for no tracing: an OTLP endpoint (or
 * OTEL_TRACES_EXPORTER=otlp, which then goes to the spec's default, localhost:4318), or `console`.
 * OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true turn it off whatever else is set.
 */
export function tracingConfigFromEnv(env: TracingEnv): TracingConfig | undefined {
  if (env.OTEL_SDK_DISABLED || env.OTEL_TRACES_EXPORTER === 'none') return undefined;
  const serviceName = env.OTEL_SERVICE_NAME ?? `phos-${env.PHOS_ROLE}`;
  if (env.OTEL_TRACES_EXPORTER === 'console') return { serviceName, exporter: { console: true } };
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const url =
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (base !== undefined ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined) ??
    (env.OTEL_TRACES_EXPORTER === 'otlp' ? 'http://localhost:4318/v1/traces' : undefined);
  return url === undefined ? undefined : { serviceName, exporter: { otlp: { url } } };
}

const PG_SCOPE = '@opentelemetry/instrumentation-pg';

/**
 * Keeps a failed query's message out of its span: PostgreSQL quotes the offending value in some
 * (22P02, `invalid input syntax for type date: "…"`). The instrumentation's exception event is
 * already reduced to the error's code; the status gets the same.
 */
const redactQueryErrors: SpanProcessor = {
  onStart: () => undefined,
  onEnding(span: Span) {
    if (span.instrumentationScope.name !== PG_SCOPE || span.status.code !== SpanStatusCode.ERROR) return;
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'PostgreSQL error (see error.type)' });
  },
  onEnd: () => undefined,
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

/**
 * A Redis command's name and the key (or channel) it acts on, never the values it carries: BullMQ's
 * scripts take job data and options as arguments, and a Lua script's text is large.
 */
export function redisStatement(command: string, args: readonly unknown[]): string {
  const scripted = /^(eval|evalsha|eval_ro|evalsha_ro|fcall|fcall_ro)$/i.test(command);
  const key = scripted ? (Number(args[1]) > 0 ? args[2] : undefined) : args[0];
  return typeof key === 'string' || Buffer.isBuffer(key) ? `${command} ${key.toString()}` : command;
}

/**
 * Starts the tracer provider, registered globally (W3C trace context, AsyncLocalStorage), with the
 * pg and ioredis instrumentations and @fastify/otel. Loads the SDK only now: a process without
 * tracing never imports it.
 */
export async function startTracing(config: TracingConfig): Promise<Tracing> {
  const [{ NodeTracerProvider, BatchSpanProcessor, ConsoleSpanExporter }, { resourceFromAttributes }, semconv, instrumentation] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/semantic-conventions'),
      import('@opentelemetry/instrumentation'),
    ]);
  const [{ PgInstrumentation }, { IORedisInstrumentation }, { FastifyOtelInstrumentation }] = await Promise.all([
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-ioredis'),
    import('@fastify/otel'),
  ]);

  let processor: SpanProcessor;
  if ('processor' in config.exporter) processor = config.exporter.processor;
  else if ('console' in config.exporter) processor = new BatchSpanProcessor(new ConsoleSpanExporter());
  else {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
    processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: config.exporter.otlp.url }));
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [semconv.ATTR_SERVICE_NAME]: config.serviceName }),
    spanProcessors: [redactQueryErrors, processor],
  });
  provider.register();

  const fastify = new FastifyOtelInstrumentation({
    // The path only: a query string may carry a subscription's input.
    requestHook: (span, request) => span.setAttribute(semconv.ATTR_URL_PATH, request.url.split('?', 1)[0] ?? ''),
  });
  const disable = instrumentation.registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      fastify,
      // Parameters are patient data: enhancedDatabaseReporting (which records them) stays off.
      // Spans only inside a trace: the relay's and the hub's timers would each start one a second.
      new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: redisStatement }),
    ],
  });
  // pg and ioredis are CommonJS; Phos imports them as ES modules, which the instrumentations'
  // require hook does not see, and they may be loaded already. Both patch the classes' prototypes,
  // so requiring each once here, through the hook, patches the very classes the imports hold.
  const require = createRequire(import.meta.url);
  require('pg');
  require('ioredis');

  return {
    fastifyPlugin: () => fastify.plugin(),
    async shutdown() {
      disable();
      await provider.shutdown();
    },
  };
}
