/**
 * A Phos deployment for the fault suite: its own PostgreSQL and Redis servers, and Phos as
 * separate api and worker processes, each of which the suite may kill, stop and start again.
 */
import { randomBytes } from 'node:crypto';
import { REGISTRATIONS_QUEUE } from '../src/jobs/registrations.js';
import { startPhosApi, startPhosWorker, type PhosProcess } from '../test/processes.js';
import { freePort, startPostgres, until, startRedis, type PostgresServer, type RedisServer } from './servers.js';

export const ADMIN = { email: 'faults-admin@example.com', password: 'Quartz-Plover-Mangrove-81' };

/**
 * Settings every process shares. Production's defaults, but for three the suite shortens to fit
 * CI's time: the reconciler looks every 5 s for registrations 10 s overdue (30 s and 60 s by
 * default), and nothing throttles the flood's one client address.
 */
const SUITE_SETTINGS = {
  NODE_ENV: 'production',
  LOG_LEVEL: 'info',
  PHOS_REDIS_PREFIX: 'phos',
  PHOS_ADMIN_EMAIL: ADMIN.email,
  PHOS_ADMIN_PASSWORD: ADMIN.password,
  PHOS_RECONCILE_INTERVAL_SECONDS: '5',
  PHOS_RECONCILE_GRACE_SECONDS: '10',
  PHOS_REGISTER_MAX_PER_ADDRESS: '1000000',
  PHOS_STREAMS_PER_SESSION: '1000',
  PHOS_WEB_DIR: '/nonexistent',
};

export interface PhosNode {
  /** `api-1`, `worker-2`. */
  name: string;
  role: 'api' | 'worker';
  /** An api's base URL; the same across restarts. */
  url: string | undefined;
  running(): boolean;
  /** Its process's pid while it runs. */
  pid(): number | undefined;
  start(): Promise<void>;
  /** Sends `signal` and waits for the exit; the suite's own doing, so not counted as a death. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Resolves once `pattern` shows in its current process's output. */
  printed(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Everything its processes printed, every run. */
  output(): string;
}

export interface FaultCluster {
  postgres: PostgresServer;
  redis: RedisServer;
  apis: PhosNode[];
  workers: PhosNode[];
  /** Processes that exited when the suite had not stopped them: a dependency's fault killed them. */
  deaths(): string[];
  /** Everything every Phos process printed. */
  output(): string;
  destroy(): Promise<void>;
}

function phosNode(name: string, role: 'api' | 'worker', env: Record<string, string>, deaths: string[]): PhosNode {
  let current: PhosProcess | undefined;
  let stopping = false;
  const previous: string[] = [];
  return {
    name,
    role,
    url: role === 'api' ? `http://127.0.0.1:${env.PORT ?? ''}` : undefined,
    running: () => current !== undefined,
    pid: () => current?.pid,
    async start() {
      if (current) throw new Error(`${name} is running already`);
      const started = role === 'api' ? await startPhosApi({ ...env, PHOS_ROLE: 'api' }) : await startPhosWorker(env);
      current = started;
      void started.exited.then(({ code, signal }) => {
        previous.push(started.output());
        if (current === started) current = undefined;
        if (!stopping) deaths.push(`${name} exited (code ${String(code)}, signal ${String(signal)}):\n${started.output().slice(-3000)}`);
        stopping = false;
      });
    },
    async stop(signal = 'SIGKILL') {
      const running = current;
      if (!running) throw new Error(`${name} is not running`);
      stopping = true;
      running.signal(signal);
      return running.exited;
    },
    printed(pattern, timeoutMs) {
      if (!current) throw new Error(`${name} is not running`);
      return current.printed(pattern, timeoutMs);
    },
    output: () => [...previous, current?.output() ?? ''].join(''),
  };
}

/** Starts PostgreSQL, Redis, `apis` api processes and `workers` worker processes. */
export async function startCluster(options: { apis: number; workers: number; env?: Record<string, string> }): Promise<FaultCluster> {
  const [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  const deaths: string[] = [];
  const shared = { ...SUITE_SETTINGS, DATABASE_URL: postgres.url, REDIS_URL: redis.url, ...options.env };
  const apis: PhosNode[] = [];
  for (let index = 1; index <= options.apis; index++) {
    apis.push(phosNode(`api-${index}`, 'api', { ...shared, PORT: String(await freePort()) }, deaths));
  }
  const workers = Array.from({ length: options.workers }, (_, index) => phosNode(`worker-${index + 1}`, 'worker', shared, deaths));
  const cluster: FaultCluster = {
    postgres,
    redis,
    apis,
    workers,
    deaths: () => [...deaths],
    output: () => [...apis, ...workers].map((node) => node.output()).join(''),
    async destroy() {
      await Promise.all([...apis, ...workers].filter((node) => node.running()).map((node) => node.stop('SIGKILL')));
      await Promise.all([postgres.destroy(), redis.destroy()]);
    },
  };
  try {
    // Concurrent starts are safe: migrations run under an advisory lock.
    await Promise.all([...apis, ...workers].map((node) => node.start()));
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return cluster;
}

/** Letters only (names allow little else), distinct enough to find in a log. */
export function uniqueWord(length = 10): string {
  return Array.from(randomBytes(length), (byte) => String.fromCharCode(97 + (byte % 26))).join('');
}

const ACTIVE_JOBS = `${SUITE_SETTINGS.PHOS_REDIS_PREFIX}:${REGISTRATIONS_QUEUE}:active`;

/** Waits until a registration job is running. */
export async function untilJobActive(cluster: FaultCluster, timeoutMs = 10_000): Promise<void> {
  await until('a registration job to be active', async () => Number(await cluster.redis.call('LLEN', ACTIVE_JOBS)) > 0, timeoutMs, 5);
}

/**
 * Waits until `worker` runs a registration job and freezes it there (SIGSTOP), so that a kill
 * that follows lands mid-job: a job seen active and then killed at once may have finished in
 * between. Returns the ids of the jobs it holds. The caller kills it, or sends SIGCONT.
 */
export async function freezeMidJob(cluster: FaultCluster, worker: PhosNode, timeoutMs = 10_000): Promise<string[]> {
  let held: string[] = [];
  await until(
    `${worker.name} to be running a registration job`,
    async () => {
      if (Number(await cluster.redis.call('LLEN', ACTIVE_JOBS)) === 0) return false;
      process.kill(worker.pid()!, 'SIGSTOP');
      held = (await cluster.redis.call('LRANGE', ACTIVE_JOBS, 0, -1)) as string[];
      if (held.length > 0) return true;
      process.kill(worker.pid()!, 'SIGCONT');
      return false;
    },
    timeoutMs,
    5,
  );
  return held;
}

/** Runs `scenario` on a fresh cluster of `shape`, and tears it down whatever happens. */
export async function onCluster(
  shape: Parameters<typeof startCluster>[0],
  scenario: (cluster: FaultCluster) => Promise<void>,
): Promise<void> {
  const cluster = await startCluster(shape);
  try {
    await scenario(cluster);
  } finally {
    await cluster.destroy();
  }
}

/** A fault's figures, printed beside the test's name for the reliability record. */
export function report(fault: string, figures: Record<string, unknown>): void {
  console.log(`[fault] ${fault}: ${JSON.stringify(figures)}`);
}
