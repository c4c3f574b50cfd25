import { z } from 'zod';

const optionalUrl = z.preprocess((value) => (value === '' ? undefined : value), z.url().optional());

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
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
  /** Trust X-Forwarded-* headers from the proxy in front, so cookies get Secure behind https. */
  PHOS_TRUST_PROXY: z.stringbool().default(false),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
