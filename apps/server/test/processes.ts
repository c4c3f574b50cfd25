/** Test support: Phos as production runs it, `node --import tsx src/main.ts`, in a process of its own. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject, type TestContext } from 'vitest';
import { deleteRedisKeys, freshDatabase, usesPostgres } from './support.js';

const serverDir = fileURLToPath(new URL('..', import.meta.url));

/** What the process printed is kept up to this many characters, the newest. */
const OUTPUT_KEPT = 4_000_000;

export interface PhosProcess {
  pid: number;
  /** Everything the process printed so far (the newest 4 MB). */
  output: () => string;
  /** Resolves once `pattern` shows up in the output; rejects if the process exits first. */
  printed: (pattern: RegExp, timeoutMs?: number) => Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Sends `name` and answers when it was sent. */
  signal: (name: NodeJS.Signals) => number;
}

const running = new Set<ChildProcess>();

/** Kills every process these helpers started and that still runs: for a test file's `afterAll`. */
export function killAllPhosProcesses(): void {
  for (const child of running) child.kill('SIGKILL');
}

export interface PhosApiProcess extends PhosProcess {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  url: string;
}

/** An api (or an all-in-one Phos) in a process of its own; resolves once it listens. */
export async function startPhosApi(env: ProcessEnv, options: { startTimeoutMs?: number } = {}): Promise<PhosApiProcess> {
  const started = await startPhosProcess(env, /running at http:\/\/[\d.]+:\d+/, options.startTimeoutMs);
  return { ...started, url: /running at (http:\/\/[\d.]+:\d+)/.exec(started.output())![1]! };
}

/** A worker (PHOS_ROLE=worker) in a process of its own; resolves once it runs. */
export function startPhosWorker(env: ProcessEnv, options: { startTimeoutMs?: number } = {}): Promise<PhosProcess> {
  return startPhosProcess({ ...env, PHOS_ROLE: 'worker' }, /Phos worker is running/, options.startTimeoutMs);
}

/** Variables over the caller's environment; undefined removes one. */
export type ProcessEnv = Record<string, string | undefined>;

/**
 * Starts Phos with `env` over the caller's environment (PORT 0 and LOG_LEVEL info unless given),
 * and resolves once `ready` shows in its output.
 */
async function startPhosProcess(env: ProcessEnv, ready: RegExp, startTimeoutMs = 60_000): Promise<PhosProcess> {
  const merged: ProcessEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: serverDir,
    env: Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== undefined)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  const watchers = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT / 2);
    for (const watcher of watchers) watcher();
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, at: Date.now() });
    }),
  );
  const printed = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pattern.test(output)) return;
        watchers.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`no ${pattern} within ${timeoutMs} ms: ${output.slice(-3000)}`));
      }, timeoutMs);
      watchers.add(check);
      void exited.then(() => {
        if (!watchers.has(check)) return;
        watchers.delete(check);
        clearTimeout(timer);
        reject(new Error(`process exited before ${pattern}: ${output.slice(-3000)}`));
      });
      check();
    });
  try {
    await printed(ready, startTimeoutMs);
  } catch (error) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw error;
  }
  return {
    pid: child.pid!,
    output: () => output,
    printed,
    exited,
    signal(name) {
      child.kill(name);
      return Date.now();
    },
  };
}

/** A database and a Redis prefix that Phos processes of their own share, with what each process needs. */
export interface SharedBackends {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  /** The environment of one Phos process in `role`, with a data directory of its own. */
  env: (role: 'api' | 'worker') => ProcessEnv;
  /** Kills the processes, removes the keys, the database and the data directories. */
  cleanup: () => Promise<void>;
}

/**
 * A fresh database on the test run's PostgreSQL and a fresh Redis prefix, for Phos processes of
 * their own; skips the test on PGlite or the embedded Redis, which one process holds alone.
 * `extra` goes into every process's environment.
 */
export async function sharedBackends(context: TestContext, extra: ProcessEnv = {}): Promise<SharedBackends> {
  const redis = inject('redisTarget');
  context.skip(
    !usesPostgres || !('url' in redis),
    'needs DATABASE_URL (a PostgreSQL server) and REDIS_URL: separate Phos processes cannot share PGlite or the private Redis socket of this test run',
  );
  const redisUrl = 'url' in redis ? redis.url : '';
  const database = await freshDatabase();
  const databaseUrl = 'url' in database.config ? database.config.url : '';
  const prefix = `phos-test-${randomUUID()}`;
  const dirs: string[] = [];
  return {
    databaseUrl,
    redisUrl,
    prefix,
    env: (role) => {
      const dir = mkdtempSync(path.join(tmpdir(), `phos-${role}-`));
      dirs.push(dir);
      return { PHOS_ROLE: role, PHOS_DATA_DIR: dir, DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, PHOS_REDIS_PREFIX: prefix, ...extra };
    },
    cleanup: async () => {
      killAllPhosProcesses();
      await deleteRedisKeys({ url: redisUrl }, prefix).catch(() => undefined);
      await database.drop();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}
