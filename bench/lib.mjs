// Helpers shared by the benchmarks (bench/live.mjs, bench/dashboard.mjs, bench/registration.mjs):
// statistics, tRPC over HTTP, Phos as a child process, per-run database and Redis prefix, /proc
// readings, the goal table, result files.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Resolves packages the way the server does: the root declares none of pg, ioredis, tsx. */
export const serverRequire = createRequire(path.join(root, 'apps/server/package.json'));

// ---------------------------------------------------------------- statistics

/** The value at percentile `p` (0–100) of an ascending array, to 0.1; null when empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(1));
}

/** Count, p50, p95, p99 and max of unsorted values; what is not a number (a figure a run lacked) is left out. */
export function summary(values) {
  const sorted = values.filter((v) => typeof v === 'number').sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: percentile(sorted, 100),
  };
}

/** a ÷ b to three decimals; null when either is missing or b is 0. */
export function ratio(a, b) {
  return a === null || a === undefined || b === null || b === undefined || b === 0 ? null : Number((a / b).toFixed(3));
}

// ---------------------------------------------------------------- control flow

/** Runs `work(item, index)` over `items` with at most `limit` at once; the results in order. */
export async function inBatches(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Polls `check` every `everyMs` until it returns true. Past `timeoutMs` it throws, or, given
 * `onTimeout`, passes it the message and returns false, for a caller that reports what arrived.
 */
export async function waitFor(what, check, timeoutMs, { everyMs = 250, onTimeout } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) {
      const message = `gave up waiting for ${what} after ${timeoutMs / 1000} s`;
      if (!onTimeout) throw new Error(message);
      onTimeout(message);
      return false;
    }
    await delay(everyMs);
  }
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Runs a command to completion; resolves with its stdout, rejects with the tail of its stderr. */
export function run(command, args, { timeoutMs, ...options } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = timeoutMs ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined;
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}\n${stderr.slice(-2000)}`));
    });
  });
}

// ---------------------------------------------------------------- HTTP

/**
 * A JSON tRPC call over HTTP; returns the data and the session cookie it set, if any. Phos takes
 * queries as POST too, and refuses them over GET (their input would land in URLs). A failure is an Error with the
 * HTTP `status` and the `appCode`.
 */
export async function trpc(base, procedure, input, cookie, method = 'POST') {
  const response = await fetch(`${base}/trpc/${procedure}`, {
    method,
    headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: method === 'POST' ? JSON.stringify(input ?? {}) : undefined,
    signal: AbortSignal.timeout(60_000),
  });
  const body = await response.json();
  if (!response.ok) {
    const appCode = body.error?.data?.appCode ?? body.error?.data?.code ?? '?';
    const error = new Error(`${procedure} failed (${response.status}): ${appCode} ${body.error?.message ?? ''}`);
    error.status = response.status;
    error.appCode = appCode;
    throw error;
  }
  const session = response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .find((c) => c.startsWith('phos_session='));
  return { data: body.result.data, cookie: session };
}

/** One server-sent event block (the text between blank lines): its event name, id and data. */
export function parseSseBlock(block) {
  let event = 'message';
  let id;
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    else if (line.startsWith('id:')) id = line.slice(3).trim();
  }
  return { event, id, data: data.join('\n') };
}

/** A TCP port free on loopback right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Throws unless every URL points at this machine: the benches never touch another host. */
export function assertLoopback(...urls) {
  for (const url of urls) {
    if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(new URL(url).hostname)) throw new Error(`loopback only: ${url}`);
  }
}

// ---------------------------------------------------------------- Phos as a child process

/**
 * Starts `node --import tsx apps/server/src/main.ts` (PHOS_ROLE=`role`, default all;
 * NODE_ENV=production, LOG_LEVEL=warn) on a free loopback port with its own data directory, and
 * waits for /readyz. A `role: 'worker'` serves no HTTP: it runs at LOG_LEVEL=info (a worker logs
 * next to nothing else) and is ready once it prints that it runs; its `base` is null.
 * `env` adds to or overrides the environment (PHOS_REGISTER_MAX_PER_ADDRESS is raised by default:
 * every registration comes from the bench's one address); `nodeArgs` go before `--import tsx`
 * (e.g. `--cpu-prof`); `extraPipes` opens that many pipes after stderr (fd 3, 4…), read from
 * `child.stdio[3]`…. `stop()` sends SIGTERM, then SIGKILL after `stopTimeoutMs`. `output()`
 * (also `stderr()`, as before) is the tail of what it printed, pino's lines on stdout and stderr.
 */
export async function startPhos({
  databaseUrl,
  redisUrl,
  prefix,
  admin,
  role = 'all',
  env = {},
  nodeArgs = [],
  extraPipes = 0,
  readyTimeoutMs = 60_000,
  stopTimeoutMs = 15_000,
}) {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'phos-bench-data-'));
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'apps/server/src/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      PHOS_REDIS_PREFIX: prefix,
      PHOS_ROLE: role,
      PHOS_DATA_DIR: dataDir,
      PHOS_ADMIN_EMAIL: admin.email,
      PHOS_ADMIN_PASSWORD: admin.password,
      PHOS_REGISTER_MAX_PER_ADDRESS: '1000000',
      LOG_LEVEL: role === 'worker' ? 'info' : 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe', ...Array.from({ length: extraPipes }, () => 'pipe')],
  });
  let output = '';
  const keep = (chunk) => (output = (output + chunk).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const base = role === 'worker' ? null : `http://127.0.0.1:${port}`;
  const alive = () => child.exitCode === null && child.signalCode === null;
  async function stop() {
    if (alive()) {
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), delay(stopTimeoutMs).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
  try {
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`Phos (${role}) exited during start-up:\n${output}`);
      const ready = base
        ? await fetch(`${base}/readyz`).then(
            (r) => r.ok,
            () => false,
          )
        : output.includes('Phos worker is running');
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`Phos (${role}) was not ready within ${readyTimeoutMs / 1000} s:\n${output}`);
      await delay(200);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { base, role, pid: child.pid, child, stop, output: () => output, stderr: () => output, alive };
}

// ---------------------------------------------------------------- database and Redis per run

/**
 * Creates the database `name` through `pgUrl` (a role allowed to create databases). Returns its
 * URL, the admin client it keeps open, and `drop()`, which drops it (forcing connections off) and
 * closes that client.
 */
export async function createBenchDatabase(pgUrl, name) {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`not a plain database name: ${name}`);
  const pg = serverRequire('pg');
  const adminDb = new pg.Client({ connectionString: pgUrl });
  await adminDb.connect();
  await adminDb.query(`create database ${name}`);
  const url = new URL(pgUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    adminDb,
    async drop() {
      try {
        await adminDb.query(`drop database if exists ${name} with (force)`);
      } finally {
        await adminDb.end().catch(() => undefined);
      }
    },
  };
}

/**
 * Gives a run its own database (phos_bench_<run id>) through `pgUrl` and Redis prefix
 * (phosbench-<run id>), both on loopback. `cleanup()` awaits `beforeCleanup` (stopping what uses
 * them), unlinks the prefix's keys, drops the database, then awaits `afterCleanup`, once however
 * often it is called; it logs failures through `log` rather than throwing. An interrupt (SIGINT)
 * cleans up and exits with 130.
 */
export async function openBenchRun({ pgUrl, redisUrl, log, beforeCleanup, afterCleanup }) {
  assertLoopback(redisUrl, pgUrl);
  const runId = randomBytes(4).toString('hex');
  const database = `phos_bench_${runId}`;
  const prefix = `phosbench-${runId}`;
  const db = await createBenchDatabase(pgUrl, database);
  log(`database ${database}, Redis prefix ${prefix}`);
  let cleaning;
  // Once: an interrupt's cleanup and the run's own, when it then fails, are the same one.
  const cleanup = () =>
    (cleaning ??= (async () => {
      await beforeCleanup?.();
      const keys = await deleteKeys(redisUrl, prefix).catch((error) => (log('Redis cleanup failed:', error.message), 0));
      await db.drop().catch((error) => log('drop failed:', error.message));
      await afterCleanup?.();
      log(`cleaned up: dropped ${database}, removed ${keys} Redis key(s) under ${prefix}:`);
    })());
  process.once('SIGINT', () => {
    log('interrupted: cleaning up');
    void cleanup().finally(() => process.exit(130));
  });
  return { runId, database, prefix, db, cleanup };
}

/** Unlinks every Redis key under `prefix:`; returns how many there were. */
export async function deleteKeys(redisUrl, prefix) {
  const { Redis } = serverRequire('ioredis');
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

// ---------------------------------------------------------------- /proc

/** Kernel clock ticks per second, the unit of /proc/<pid>/stat's CPU times. */
export const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU ticks (user + system) and resident memory of a process, from /proc. */
export function processStats(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'))?.[1] ?? 0);
  return { ticks: Number(fields[11]) + Number(fields[12]), rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}

/**
 * Per-thread scheduler times of a process, from /proc/<pid>/task/<tid>/schedstat: nanoseconds
 * on a CPU and waiting in a run queue (ready but not running), by thread name. The main thread
 * is reported as `main`; Node's thread pool threads are named `libuv-worker`.
 */
export function threadTimes(pid) {
  const byName = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = tid === String(pid) ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const [runNs, waitNs] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      const entry = (byName[name] ??= { threads: 0, runNs: 0, waitNs: 0 });
      entry.threads += 1;
      entry.runNs += runNs;
      entry.waitNs += waitNs;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return byName;
}

// ---------------------------------------------------------------- the goal table

/** A row of the goal table: `value` must be at most `limit`. */
export function atMost(name, value, limit, unit = '') {
  return { name, value, goal: `≤ ${limit}${unit}`, met: value === null || value === undefined ? null : value <= limit };
}

/** A row of the goal table: `value` must be at least `limit`. */
export function atLeast(name, value, limit, unit = '') {
  return { name, value, goal: `≥ ${limit}${unit}`, met: value === null || value === undefined ? null : value >= limit };
}

/**
 * The goal table as text lines: figure, value, goal, met (`-` when there was nothing to judge).
 * `nameWidth` and `goalWidth` are the figure and goal columns' widths.
 */
export function formatGoals(rows, { nameWidth = 45, goalWidth = 11 } = {}) {
  const line = (name, value, goal, met) => `  ${name.padEnd(nameWidth)} ${value.padEnd(12)} ${goal.padEnd(goalWidth)} ${met}`;
  return [
    line('figure', 'value', 'goal', 'met'),
    ...rows.map((g) => line(g.name, String(g.value ?? '-'), g.goal, g.met === null ? '-' : g.met ? 'yes' : 'NO')),
  ];
}

// ---------------------------------------------------------------- result files

/**
 * Writes `result` as JSON to `out` or, without one, to bench/results/<bench>-<when>-<run id>.json,
 * keeping the newest `keep` of that bench's files there. Returns the file's path.
 */
export function saveResult(result, { bench, out, keep = 20 }) {
  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (out) {
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, json);
    return out;
  }
  const dir = path.join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${bench}-${result.when.replace(/[:.]/g, '-')}-${result.run_id}.json`);
  writeFileSync(file, json);
  const files = readdirSync(dir)
    .filter((f) => f.startsWith(`${bench}-`) && f.endsWith('.json'))
    .sort();
  for (const old of files.slice(0, Math.max(0, files.length - keep))) rmSync(path.join(dir, old), { force: true });
  return file;
}
