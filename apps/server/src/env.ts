import { isIP } from 'node:net';
import { z } from 'zod';

/** Whose X-Forwarded-* headers to believe: nobody, the nearest `hops` proxies, or these addresses. */
export type TrustProxy = false | { hops: number } | { addresses: string[] };

/** proxy-addr's names for private ranges, accepted beside addresses and CIDRs. */
const namedRanges = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isAddressOrRange(entry: string): boolean {
  if (namedRanges.has(entry)) return true;
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

function parseTrustProxy(value: string | undefined, ctx: z.RefinementCtx): TrustProxy {
  const text = value?.trim() ?? '';
  if (text === '' || text === 'false' || text === '0') return false;
  if (text === 'true') {
    ctx.addIssue({
      code: 'custom',
      message: 'true would let any client choose its own address: give the number of proxies in front (e.g. 1) or their addresses',
    });
    return z.NEVER;
  }
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    if (hops <= 10) return { hops };
    ctx.addIssue({ code: 'custom', message: 'a hop count is the number of proxies in front: 1 to 10' });
    return z.NEVER;
  }
  const addresses = text.split(',').map((entry) => entry.trim());
  const invalid = addresses.filter((entry) => !isAddressOrRange(entry));
  if (invalid.length === 0) return { addresses };
  ctx.addIssue({ code: 'custom', message: `not an address or CIDR range: ${invalid.join(', ')}` });
  return z.NEVER;
}

const optionalUrl = z.preprocess((value) => (value === '' ? undefined : value), z.url().optional());

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Serves /metrics (Prometheus) on this port, in any role; unset: no metrics port. */
  PHOS_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  /** The metrics port's address: loopback unless a Prometheus elsewhere on a private network scrapes it. */
  PHOS_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Serves /metrics on the api's own port to `Authorization: Bearer <this>`; unset: not there. */
  PHOS_METRICS_TOKEN: z.string().min(32, 'PHOS_METRICS_TOKEN must be at least 32 characters').optional(),
  PHOS_DATA_DIR: z.string().min(1).default('.data'),
  DATABASE_URL: optionalUrl,
  REDIS_URL: optionalUrl,
  /** Redis key prefix for queues and channels, so several Phos installs can share one Redis. */
  PHOS_REDIS_PREFIX: z.string().min(1).default('phos'),
  /** What this process runs: the api, the worker, or both (the embedded default). */
  PHOS_ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  /** Registration jobs one worker process runs at once. */
  PHOS_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  PHOS_ADMIN_EMAIL: z.preprocess((value) => (value === '' ? undefined : value), z.email().optional()),
  PHOS_ADMIN_PASSWORD: z.preprocess((value) => (value === '' ? undefined : value), z.string().min(12).optional()),
  /** Directory of the built web app; served at `/` when it exists. */
  PHOS_WEB_DIR: z.string().optional(),
  /**
   * The proxies in front whose X-Forwarded-* headers count (client address, https for Secure
   * cookies and HSTS): how many hops (`1`), or their addresses (`10.0.0.5,10.1.0.0/16`).
   */
  PHOS_TRUST_PROXY: z.string().optional().transform(parseTrustProxy),
  /** Idle timeout of Provider and Admin sessions; fractions allowed (0.05 = 3 s, for tests). */
  PHOS_SESSION_IDLE_STAFF_MINUTES: z.coerce
    .number()
    .positive()
    .max(24 * 60)
    .default(15),
  /** Idle timeout of Patient sessions. */
  PHOS_SESSION_IDLE_PATIENT_MINUTES: z.coerce
    .number()
    .positive()
    .max(24 * 60)
    .default(30),
  /** Absolute session lifetime, whatever the activity. */
  PHOS_SESSION_ABSOLUTE_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 30)
    .default(12),
  /** Live streams (subscriptions) one session may hold open on one api instance. */
  PHOS_STREAMS_PER_SESSION: z.coerce.number().int().min(1).max(1000).default(10),
  /** The window failed sign-ins are counted in (ASVS 2.2.1: at most 10 failures per account in it). */
  PHOS_SIGNIN_WINDOW_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 3600)
    .default(15 * 60),
  /** Failed sign-ins per account per window; then the account is locked for the rest of the window. */
  PHOS_SIGNIN_MAX_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).max(1000).default(10),
  /** Failed sign-ins per client address per window, across accounts (one address spraying many). */
  PHOS_SIGNIN_MAX_FAILURES_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).default(50),
  /** Failures before each next attempt on the account must wait 1 s, 2 s, 4 s … */
  PHOS_SIGNIN_FAILURES_BEFORE_DELAY: z.coerce.number().int().min(0).max(1000).default(3),
  /** The longest of those waits. */
  PHOS_SIGNIN_MAX_DELAY_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  /** Self-registrations per client address per registration window. */
  PHOS_REGISTER_MAX_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).default(10),
  PHOS_REGISTER_WINDOW_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .default(60 * 60),
  /** How often a worker re-delivers sent registrations that have no result and no live job. */
  PHOS_RECONCILE_INTERVAL_SECONDS: z.coerce.number().positive().max(3600).default(30),
  /** How long after it was sent a registration may go without its patient before it counts as stuck. */
  PHOS_RECONCILE_GRACE_SECONDS: z.coerce
    .number()
    .nonnegative()
    .max(24 * 3600)
    .default(60),
  /**
   * On SIGTERM the process is gone within this: open streams end at once, requests get 40% of
   * it, jobs until 1.5 s before it (then they go back to the queue). Keep it under the
   * orchestrator's grace period (compose: 30 s).
   */
  PHOS_SHUTDOWN_SECONDS: z.coerce.number().min(3).max(300).default(10),
  /** The longest one SQL statement may run (lock waits included) before PostgreSQL cancels it. */
  PHOS_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
  /** The longest a transaction may sit idle between statements before PostgreSQL ends its session. */
  PHOS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(15_000),
  /** The longest one registration job attempt may run; then it fails and is retried. */
  PHOS_JOB_TIMEOUT_SECONDS: z.coerce.number().positive().max(3600).default(30),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `pretty`: readable lines (pino-pretty); `json`: one JSON object per line; `auto`: pretty on a terminal outside CI. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** Set by CI systems; with LOG_FORMAT=auto, logs stay JSON there. */
  CI: z.string().optional(),
  /**
   * OpenTelemetry, by the standard variables (ops/tracing.ts): traces are exported only when an
   * OTLP endpoint is set (or OTEL_TRACES_EXPORTER asks for `otlp` or `console`). The SDK reads
   * the other standard ones itself (OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, …).
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  /** The traces endpoint in full (`…/v1/traces`); wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl,
  OTEL_EXPORTER_OTLP_PROTOCOL: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z.literal('http/protobuf', { error: 'Phos exports OTLP as http/protobuf only' }).optional(),
  ),
  OTEL_TRACES_EXPORTER: z.preprocess((value) => (value === '' ? undefined : value), z.enum(['otlp', 'console', 'none']).optional()),
  /** `phos-<role>` when unset. */
  OTEL_SERVICE_NAME: z.preprocess((value) => (value === '' ? undefined : value), z.string().max(200).optional()),
  OTEL_SDK_DISABLED: z
    .enum(['true', 'false', ''])
    .optional()
    .transform((value) => value === 'true'),
});

export type Env = z.infer<typeof envSchema>;

/** Parses the environment once; the only place that reads `process.env`. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const fields = z.flattenError(parsed.error).fieldErrors;
    throw new Error(`Invalid environment: ${JSON.stringify(fields)}`);
  }
  return parsed.data;
}
