// Registration pipeline benchmark: Phos end to end (HTTP register -> outbox -> relay -> BullMQ
// worker -> event log -> Redis wake-up -> SSE subscription) and, when BENCH_BASELINE_DIR names one, against a
// raw-stack baseline kept outside this repository, in the same run, on the same Redis and PostgreSQL. See bench/README.md.
//
//   node bench/registration.mjs [N=200] [INFLIGHT=16] [CONCURRENCY=8] [RATE=0]
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Not part of this repository: a directory with the baseline's package.json, package-lock.json and pipeline.mjs.
const baselineSource = process.env.BENCH_BASELINE_DIR ? path.resolve(process.env.BENCH_BASELINE_DIR) : undefined;
// The server's own clients, resolved the way the server resolves them (the root declares none).
const serverRequire = createRequire(path.join(root, 'apps/server/package.json'));
const pg = serverRequire('pg');
const { Redis } = serverRequire('ioredis');

const N = positiveInt(process.argv[2], 200, 'N');
const INFLIGHT = positiveInt(process.argv[3], 16, 'INFLIGHT');
const CONCURRENCY = positiveInt(process.argv[4], 8, 'CONCURRENCY');
const RATE = Number(process.argv[5] ?? 0);
if (!Number.isFinite(RATE) || RATE < 0) throw new Error('RATE must be a number >= 0');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PHASE_TIMEOUT_MS = Number(process.env.BENCH_PHASE_TIMEOUT_MS ?? 90_000);
/** Phos runs its worker with BullMQ concurrency 8 (not configurable from the environment). */
const PHOS_WORKER_CONCURRENCY = 8;

for (const url of [REDIS_URL, PG_URL]) {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) throw new Error(`loopback only: ${url}`);
}

function positiveInt(value, fallback, name) {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${name} must be a positive integer`);
  return parsed;
}

const log = (...args) => console.error('[bench]', ...args);

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(1));
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function run(command, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}\n${stderr.slice(-2000)}`));
    });
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- baseline

/** A cached copy of the read-only baseline with its dependencies, keyed by its lockfile. */
async function baselineDir() {
  const lock = readFileSync(path.join(baselineSource, 'package-lock.json'));
  const key = createHash('sha256').update(lock).digest('hex').slice(0, 12);
  const dir = path.join(os.tmpdir(), `phos-bench-baseline-${key}`);
  if (existsSync(path.join(dir, 'node_modules', 'bullmq', 'package.json'))) return dir;
  log(`installing the baseline's dependencies in ${dir}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const file of ['package.json', 'package-lock.json', 'pipeline.mjs']) {
    cpSync(path.join(baselineSource, file), path.join(dir, file));
  }
  try {
    await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, timeoutMs: 180_000 });
  } catch (error) {
    // npm >= 11 rejects the baseline's lockfile (it lacks some optional platform entries);
    // `npm install` keeps every version the lockfile pins and only adds what is missing.
    log(
      `npm ci failed (${error.message.split('\n').find((l) => l.includes('EUSAGE') || l.includes('sync')) ?? 'see above'}); falling back to npm install`,
    );
    await run('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir, timeoutMs: 180_000 });
  }
  return dir;
}

async function runBaseline(pgUrl) {
  const dir = await baselineDir();
  // A fresh copy of pipeline.mjs every run: the cache only holds the dependencies.
  cpSync(path.join(baselineSource, 'pipeline.mjs'), path.join(dir, 'pipeline.mjs'));
  const args = ['pipeline.mjs', String(N), String(INFLIGHT), String(CONCURRENCY), String(RATE)];
  const stdout = await run(process.execPath, args, {
    cwd: dir,
    env: { ...process.env, REDIS_URL, PG_URL: pgUrl },
    timeoutMs: PHASE_TIMEOUT_MS,
  });
  const line = stdout
    .trim()
    .split('\n')
    .findLast((l) => l.startsWith('{'));
  if (!line) throw new Error(`baseline printed no JSON line:\n${stdout}`);
  const result = JSON.parse(line);
  for (const key of ['p50_ms', 'p95_ms', 'p99_ms']) result[key] = Number(result[key]);
  return result;
}

// ---------------------------------------------------------------- Phos

async function startPhos({ databaseUrl, prefix, admin }) {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'phos-bench-data-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/server/src/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      PHOS_REDIS_PREFIX: prefix,
      PHOS_ROLE: 'all',
      PHOS_DATA_DIR: dataDir,
      PHOS_ADMIN_EMAIL: admin.email,
      PHOS_ADMIN_PASSWORD: admin.password,
      // Every registration comes from the bench's one address.
      PHOS_REGISTER_MAX_PER_ADDRESS: '1000000',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const base = `http://127.0.0.1:${port}`;

  async function stop() {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => true), delay(10_000).then(() => false)]);
      if (!killed) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  }

  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`Phos exited during start-up:\n${stderr}`);
      const ready = await fetch(`${base}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`Phos was not ready within 30 s:\n${stderr}`);
      await delay(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { base, stop, stderr: () => stderr };
}

/** A JSON tRPC mutation; returns the data and the session cookie it set, if any. */
async function mutate(base, procedure, input, cookie) {
  const response = await fetch(`${base}/trpc/${procedure}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: JSON.stringify(input),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`${procedure} failed (${response.status}): ${JSON.stringify(body.error ?? body)}`);
  const session = response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .find((c) => c.startsWith('phos_session='));
  return { data: body.result.data, cookie: session };
}

/**
 * Opens queue.onChange as an SSE stream and calls `onChange(change, id)` for each tracked event.
 * Resolves once the server has accepted the subscription (its `connected` event).
 */
async function subscribe(base, cookie, onChange) {
  const abort = new AbortController();
  const response = await fetch(`${base}/trpc/queue.onChange`, {
    headers: { cookie, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  if (!response.ok || !response.headers.get('content-type')?.startsWith('text/event-stream')) {
    throw new Error(`queue.onChange answered ${response.status} ${await response.text()}`);
  }
  let connected;
  const isConnected = new Promise((resolve) => (connected = resolve));
  const pump = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        let id;
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          else if (line.startsWith('id:')) id = line.slice(3).trim();
        }
        if (event === 'connected') connected();
        else if (event === 'serialized-error') throw new Error(`subscription error: ${data.join('\n')}`);
        else if (event === 'message' && data.length > 0) onChange(JSON.parse(data.join('\n')), id);
      }
    }
    return 'the server ended the stream';
  })().catch((error) => (abort.signal.aborted ? 'closed by the bench' : `failed: ${error.message}`));
  let ended = null;
  void pump.then((why) => (ended = why));
  await withTimeout(isConnected, 10_000, 'the queue subscription');
  return { close: () => abort.abort(), done: pump, ended: () => ended };
}

function dateOfBirth(i) {
  const year = 1940 + (i % 65);
  const month = String((i % 12) + 1).padStart(2, '0');
  const day = String((i % 28) + 1).padStart(2, '0');
  return `${year}-${month}-${day}`;
}

/** Set while a Phos child runs, so an interrupt can stop it before dropping its database. */
let stopPhos = null;

async function runPhos(databaseUrl, runId) {
  const prefix = `phosbench-${runId}`;
  const password = `bench-${randomBytes(12).toString('hex')}`;
  const admin = { email: `admin-${runId}@bench.test`, password };
  const phos = await startPhos({ databaseUrl, prefix, admin });
  stopPhos = phos.stop;
  try {
    const { cookie: adminCookie } = await mutate(phos.base, 'auth.login', admin);
    const provider = { email: `provider-${runId}@bench.test`, password };
    await mutate(phos.base, 'admin.createUser', { ...provider, role: 'Provider', firstName: 'Bench', lastName: 'Provider' }, adminCookie);
    const { cookie: providerCookie } = await mutate(phos.base, 'auth.login', provider);

    const started = new Map(); // lastName -> request start
    const latencies = [];
    const requestMs = [];
    const seenIds = [];
    let arrivals = 0;
    let lastArrival = 0;
    let allArrived;
    const everyoneArrived = new Promise((resolve) => (allArrived = resolve));
    const subscription = await subscribe(phos.base, providerCookie, (change, id) => {
      seenIds.push(BigInt(id));
      if (change.type !== 'queue.entry.added') return;
      const start = started.get(change.entry.lastName);
      if (start === undefined) return;
      started.delete(change.entry.lastName);
      lastArrival = performance.now();
      latencies.push(lastArrival - start);
      if (++arrivals === N) allArrived();
    });

    async function register(i) {
      const lastName = `Bench${runId}n${i}`;
      const t = performance.now();
      started.set(lastName, t);
      await mutate(phos.base, 'auth.register', {
        email: `patient-${runId}-${i}@bench.test`,
        password,
        firstName: 'Pat',
        lastName,
        dateOfBirth: dateOfBirth(i),
      });
      requestMs.push(performance.now() - t);
    }

    const t0 = performance.now();
    if (RATE > 0) {
      // Paced like the baseline: offered at RATE/s whatever the server does, so latency shows queueing.
      const gap = 1000 / RATE;
      const pending = [];
      for (let i = 0; i < N; i++) {
        const wait = t0 + i * gap - performance.now();
        if (wait > 1) await delay(wait);
        const registration = register(i);
        // Awaited below with the others; meanwhile a failure must not crash the bench before its cleanup.
        registration.catch(() => undefined);
        pending.push(registration);
      }
      await Promise.all(pending);
    } else {
      let next = 0;
      const producer = async () => {
        while (next < N) await register(next++);
      };
      await Promise.all(Array.from({ length: INFLIGHT }, producer));
    }
    const tRegistered = performance.now();
    try {
      await withTimeout(everyoneArrived, PHASE_TIMEOUT_MS, `${N} queue events`);
    } catch (error) {
      const rows = await countRows(databaseUrl);
      throw new Error(
        `${error.message}: ${arrivals} arrived; subscription ${subscription.ended() ?? 'still open'}; ` +
          `last event id seen ${seenIds.at(-1) ?? 'none'}; database ${JSON.stringify(rows)}; ` +
          `waiting for ${[...started.keys()].slice(0, 5).join(', ')}\nPhos stderr:\n${phos.stderr()}`,
      );
    } finally {
      subscription.close();
      await subscription.done;
    }

    latencies.sort((a, b) => a - b);
    requestMs.sort((a, b) => a - b);
    // Ids the subscription carries skip the events it does not show (patient.created), so they
    // must rise strictly (no duplicate, no reordering) rather than by exactly one.
    const inOrder = seenIds.every((id, i) => i === 0 || id > seenIds[i - 1]);
    return {
      n: N,
      inflight: INFLIGHT,
      worker_concurrency: PHOS_WORKER_CONCURRENCY,
      rate: RATE,
      register_per_s: Math.round(N / ((tRegistered - t0) / 1000)),
      e2e_per_s: Math.round(N / ((lastArrival - t0) / 1000)),
      p50_ms: percentile(latencies, 50),
      p95_ms: percentile(latencies, 95),
      p99_ms: percentile(latencies, 99),
      register_request_p50_ms: percentile(requestMs, 50),
      register_request_p95_ms: percentile(requestMs, 95),
      event_ids_increasing: inOrder,
      events_seen: seenIds.length,
    };
  } finally {
    stopPhos = null;
    await phos.stop();
  }
}

// ---------------------------------------------------------------- orchestration

async function countRows(databaseUrl) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query(
      `select (select count(*)::int from patients) as patients,
              (select count(*)::int from queue_entries) as queue_entries,
              (select count(*)::int from outbox where sent_at is null) as outbox_unsent,
              (select coalesce(max(id), 0)::text from event_log) as last_event_id`,
    );
    return rows[0];
  } finally {
    await client.end();
  }
}

async function deleteKeys(prefix) {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
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

const runId = randomBytes(4).toString('hex');
const database = `phos_bench_${runId}`;
const adminUrl = new URL(PG_URL);
const benchUrl = new URL(PG_URL);
benchUrl.pathname = `/${database}`;

const adminDb = new pg.Client({ connectionString: adminUrl.toString() });
await adminDb.connect();
await adminDb.query(`create database ${database}`);
log(`database ${database}, Redis prefix phosbench-${runId}, N=${N} inflight=${INFLIGHT} concurrency=${CONCURRENCY} rate=${RATE}`);

const cleanup = async () => {
  const keys = await deleteKeys(`phosbench-${runId}`).catch((error) => (log('Redis cleanup failed:', error.message), 0));
  await adminDb.query(`drop database if exists ${database} with (force)`).catch((error) => log('drop failed:', error.message));
  await adminDb.end();
  return keys;
};
process.once('SIGINT', () => {
  log('interrupted: cleaning up');
  void (async () => {
    await stopPhos?.();
    await cleanup();
    process.exit(130);
  })();
});

let exitCode = 0;
try {
  // The baseline's table lives in the bench database too, so dropping it leaves nothing behind.
  let baseline = null;
  if (baselineSource) {
    log('baseline…');
    baseline = await runBaseline(benchUrl.toString());
    log('baseline', JSON.stringify(baseline));
  } else {
    log('no BENCH_BASELINE_DIR: measuring Phos alone, without ratios');
  }
  log('Phos…');
  const phos = await runPhos(benchUrl.toString(), runId);
  Object.assign(phos, await countRows(benchUrl.toString()));
  const ratio = (a, b) => (a === null || b === null || b === 0 ? null : Number((a / b).toFixed(3)));
  console.log(
    JSON.stringify({
      when: new Date().toISOString(),
      cpus: os.cpus().length,
      phos,
      baseline,
      ratio_phos_over_baseline: {
        e2e_per_s: ratio(phos.e2e_per_s, baseline?.e2e_per_s ?? null),
        p50_ms: ratio(phos.p50_ms, baseline?.p50_ms ?? null),
        p95_ms: ratio(phos.p95_ms, baseline?.p95_ms ?? null),
        p99_ms: ratio(phos.p99_ms, baseline?.p99_ms ?? null),
      },
    }),
  );
} catch (error) {
  exitCode = 1;
  log(error instanceof Error ? error.stack : error);
} finally {
  const keys = await cleanup();
  log(`cleaned up: dropped ${database}, removed ${keys} leftover Redis key(s) under phosbench-${runId}:`);
}
process.exit(exitCode);
