// Registration pipeline benchmark: Phos end to end (HTTP register or walk-in -> outbox -> relay ->
// BullMQ worker -> event log -> Redis wake-up -> SSE subscription), the machine's own argon2id rate,
// and, when BENCH_BASELINE_DIR names one, a raw-stack baseline kept outside this repository, all
// in the same run, on the same Redis and PostgreSQL. See bench/README.md.
//
//   node bench/registration.mjs [N=200] [INFLIGHT=16] [CONCURRENCY=8] [RATE=0]
//
// BENCH_ONLY=walkins runs only the walk-ins between the two raw-stack runs (no flood, no argon2id).
// BENCH_CPU_PROF=<dir> writes Phos's V8 CPU profile there (--cpu-prof). When the database server
// has pg_stat_statements loaded (PG_URL naming a private server), the walk-ins' statements are
// counted and listed per walk-in.
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import {
  assertLoopback,
  atLeast,
  atMost,
  createBenchDatabase,
  deleteKeys,
  formatGoals,
  parseSseBlock,
  processStats,
  clockTicks,
  ratio,
  root,
  run,
  serverRequire,
  startPhos,
  summary,
  threadTimes,
  trpc,
  withTimeout,
} from './lib.mjs';

// Not part of this repository: a directory with the baseline's package.json, package-lock.json and pipeline.mjs.
const baselineSource = process.env.BENCH_BASELINE_DIR ? path.resolve(process.env.BENCH_BASELINE_DIR) : undefined;
const pg = serverRequire('pg');

const N = positiveInt(process.argv[2], 200, 'N');
const INFLIGHT = positiveInt(process.argv[3], 16, 'INFLIGHT');
const CONCURRENCY = positiveInt(process.argv[4], 8, 'CONCURRENCY');
const RATE = Number(process.argv[5] ?? 0);
if (!Number.isFinite(RATE) || RATE < 0) throw new Error('RATE must be a number >= 0');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PHASE_TIMEOUT_MS = Number(process.env.BENCH_PHASE_TIMEOUT_MS ?? 90_000);
/** libuv's pool, where argon2id runs: Phos does not set it, so Node's default of 4 unless the caller does. */
const THREADPOOL = positiveInt(process.env.UV_THREADPOOL_SIZE, 4, 'UV_THREADPOOL_SIZE');
/** How long each argon2id measurement hashes for. */
const ARGON2_SECONDS = Number(process.env.BENCH_ARGON2_SECONDS ?? 3);
/** The auth.me probe's pace during the flood. */
const PROBE_EVERY_MS = Number(process.env.BENCH_PROBE_MS ?? 50);
/** `walkins`: only the walk-in phase and its raw-stack runs. */
const ONLY = process.env.BENCH_ONLY ?? '';
if (!['', 'walkins'].includes(ONLY)) throw new Error('BENCH_ONLY must be walkins or unset');
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : undefined;
/** The event-loop sampler's resolution inside Phos. */
const LOOP_RESOLUTION_MS = 10;

assertLoopback(REDIS_URL, PG_URL);

function positiveInt(value, fallback, name) {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${name} must be a positive integer`);
  return parsed;
}

const log = (...args) => console.error('[bench]', ...args);

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

async function runBaseline(pgUrl, rate) {
  const dir = await baselineDir();
  // A fresh copy of pipeline.mjs every run: the cache only holds the dependencies.
  cpSync(path.join(baselineSource, 'pipeline.mjs'), path.join(dir, 'pipeline.mjs'));
  const args = ['pipeline.mjs', String(N), String(INFLIGHT), String(CONCURRENCY), String(rate)];
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

// ---------------------------------------------------------------- argon2id on this machine

/**
 * A child process hashing with Phos's argon2id library and parameters (`ARGON2_OPTIONS`) on a
 * libuv pool of the same size Phos runs with, unbounded: the machine's own rate. (Phos itself runs
 * at most cores - 1 hashes at once, leaving the event loop a core, so its flood cannot reach this.) 2 hashes per pool thread in flight so the pool never
 * idles. Counts the hashes finished within ARGON2_SECONDS after a warm-up round. Also times Phos's
 * password-strength check, which every self-registration runs (in its scoring thread).
 */
const ARGON2_CHILD = `
const { ARGON2_OPTIONS } = await import(${JSON.stringify(path.join(root, 'apps/server/src/identity/password.ts'))});
const { hash } = await import(${JSON.stringify(pathToFileURL(serverRequire.resolve('@node-rs/argon2')).href)});
const hashPassword = (password) => hash(password, ARGON2_OPTIONS);
const { passwordWeakness } = await import(${JSON.stringify(path.join(root, 'apps/server/src/identity/passwordPolicy.ts'))});
const concurrency = Number(process.env.BENCH_ARGON2_CONCURRENCY);
const seconds = Number(process.env.BENCH_ARGON2_SECONDS);
const password = process.env.BENCH_ARGON2_PASSWORD;
await Promise.all(Array.from({ length: concurrency }, () => hashPassword(password)));
let hashes = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const end = t0 + seconds * 1000;
const hasher = async () => {
  while (performance.now() < end) {
    await hashPassword(password);
    if (performance.now() <= end) hashes += 1;
  }
};
await Promise.all(Array.from({ length: concurrency }, hasher));
const cpu = process.cpuUsage(cpu0);
const cpuCores = (cpu.user + cpu.system) / 1000 / (performance.now() - t0);
const owner = { email: 'patient-x@bench.test', firstName: 'Pat', lastName: 'Benchx', dateOfBirth: '1970-01-01' };
await passwordWeakness(password, owner);
const checks = 20;
const c0 = performance.now();
for (let i = 0; i < checks; i++) await passwordWeakness(password, { ...owner, lastName: 'Bench' + i });
const checkMs = (performance.now() - c0) / checks;
const round = (x, digits) => Number(x.toFixed(digits));
console.log(JSON.stringify({ hashes, seconds, per_s: round(hashes / seconds, 1), cpu_cores: round(cpuCores, 3), cpu_ms_per_hash: round((cpuCores * 1000 * seconds) / hashes, 2), password_check_ms: round(checkMs, 2) }));
`;

async function measureArgon2(password) {
  const concurrency = 2 * THREADPOOL;
  const stdout = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', ARGON2_CHILD], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      UV_THREADPOOL_SIZE: String(THREADPOOL),
      BENCH_ARGON2_CONCURRENCY: String(concurrency),
      BENCH_ARGON2_SECONDS: String(ARGON2_SECONDS),
      BENCH_ARGON2_PASSWORD: password,
    },
    timeoutMs: (ARGON2_SECONDS + 60) * 1000,
  });
  const line = stdout
    .trim()
    .split('\n')
    .findLast((l) => l.startsWith('{'));
  if (!line) throw new Error('the argon2id child printed no result');
  return { ...JSON.parse(line), concurrency };
}

// ---------------------------------------------------------------- Phos

/**
 * Loaded into Phos with --import (the server is not changed): every 250 ms it writes the worst
 * event-loop delay and the event-loop utilisation of that interval to fd 3, as a JSON line.
 */
const LOOP_PROBE = `import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { writeSync } from 'node:fs';
const histogram = monitorEventLoopDelay({ resolution: ${LOOP_RESOLUTION_MS} });
histogram.enable();
let last = performance.eventLoopUtilization();
setInterval(() => {
  const now = performance.eventLoopUtilization();
  const line = { t: Date.now(), max: histogram.max / 1e6, p99: histogram.percentile(99) / 1e6, elu: performance.eventLoopUtilization(now, last).utilization };
  last = now;
  histogram.reset();
  try { writeSync(3, JSON.stringify(line) + '\\n'); } catch {}
}, 250).unref();
`;

/** Reads the loop probe's lines from Phos's fd 3. */
function loopSamples(stream) {
  const samples = [];
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      try {
        samples.push(JSON.parse(line));
      } catch {
        // a torn line: skip it
      }
    }
  });
  stream.on('error', () => undefined);
  return samples;
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
        const { event, id, data } = parseSseBlock(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event === 'connected') connected();
        else if (event === 'serialized-error') throw new Error(`subscription error: ${data}`);
        else if (event === 'message' && data !== '') onChange(JSON.parse(data), id);
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

/**
 * Offers `send(i)` for i < N: paced at `rate`/s whatever the server does (latency shows queueing),
 * or, at rate 0, by INFLIGHT producers as fast as the server answers.
 */
async function offer(rate, send) {
  if (rate > 0) {
    const t0 = performance.now();
    const gap = 1000 / rate;
    const pending = [];
    for (let i = 0; i < N; i++) {
      const wait = t0 + i * gap - performance.now();
      if (wait > 1) await delay(wait);
      const sent = send(i);
      // Awaited below with the others; meanwhile a failure must not crash the bench before its cleanup.
      sent.catch(() => undefined);
      pending.push(sent);
    }
    await Promise.all(pending);
  } else {
    let next = 0;
    const producer = async () => {
      while (next < N) await send(next++);
    };
    await Promise.all(Array.from({ length: INFLIGHT }, producer));
  }
}

/**
 * Every PROBE_EVERY_MS, open loop (a slow answer does not delay the next call, so queueing inside
 * Phos shows in the latencies instead of thinning the samples): auth.me signed in, the figure;
 * and, to say where its time goes, auth.me signed out (the tRPC stack without the session's
 * database read) and /healthz (HTTP and the event loop alone).
 */
function startProbe(base, cookie) {
  const samples = { auth_me_ms: [], auth_me_signed_out_ms: [], healthz_ms: [] };
  const failures = [];
  const inFlight = new Set();
  const time = (into, call) => {
    const promise = (async () => {
      const t = performance.now();
      try {
        await call();
        samples[into].push(performance.now() - t);
      } catch (error) {
        failures.push(error.message);
      }
    })();
    inFlight.add(promise);
    void promise.finally(() => inFlight.delete(promise));
  };
  const timer = setInterval(() => {
    time('auth_me_ms', async () => {
      const { data } = await trpc(base, 'auth.me', undefined, cookie);
      if (!data) throw new Error('auth.me answered null: the probe is not signed in');
    });
    time('auth_me_signed_out_ms', () => trpc(base, 'auth.me', undefined, undefined));
    time('healthz_ms', async () => {
      const response = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(60_000) });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`/healthz answered ${response.status}`);
    });
  }, PROBE_EVERY_MS);
  return async () => {
    clearInterval(timer);
    await Promise.all([...inFlight]);
    return {
      every_ms: PROBE_EVERY_MS,
      ...Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, summary(values)])),
      failed: failures.length,
      errors: [...new Set(failures)].slice(0, 3),
    };
  };
}

/** Phos's CPU by thread between two readings: the main thread's share of the window on a CPU and waiting for one. */
function cpuBetween(before, after, windowMs) {
  const delta = (name, field) => ((after.threads[name]?.[field] ?? 0) - (before.threads[name]?.[field] ?? 0)) / 1e6;
  const share = (ms) => Number((ms / windowMs).toFixed(3));
  const otherRunMs = Object.keys(after.threads)
    .filter((name) => name !== 'main' && name !== 'libuv-worker')
    .reduce((sum, name) => sum + delta(name, 'runNs'), 0);
  return {
    process_cpu_cores: share(((after.ticks - before.ticks) * 1000) / clockTicks),
    main_thread_on_cpu: share(delta('main', 'runNs')),
    main_thread_waiting_for_cpu: share(delta('main', 'waitNs')),
    threadpool_cpu_cores: share(delta('libuv-worker', 'runNs')),
    threadpool_waiting_for_cpu: share(delta('libuv-worker', 'waitNs')),
    other_threads_cpu_cores: share(otherRunMs),
  };
}

function readCpu(pid) {
  return { ticks: processStats(pid).ticks, threads: threadTimes(pid) };
}

/** CPU ticks of the PostgreSQL backends serving `databaseUrl`'s database, by pid. */
async function backendTicks(adminDb, databaseUrl) {
  const { rows } = await adminDb.query('select pid from pg_stat_activity where datname = $1', [new URL(databaseUrl).pathname.slice(1)]);
  const ticks = new Map();
  for (const { pid } of rows) {
    try {
      ticks.set(pid, processStats(pid).ticks);
    } catch {
      // ended, or not readable
    }
  }
  return ticks;
}

/** Milliseconds of CPU the backends used between two readings (a backend started since counts whole). */
function backendCpuMs(before, after) {
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? 0);
  return (ticks * 1000) / clockTicks;
}

/** The machine's total CPU ticks busy and idle, from /proc/stat. */
function machineTicks() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = fields[3] + fields[4];
  return { busy: fields.reduce((a, b) => a + b, 0) - idle, idle };
}

/**
 * Four words drawn at random: strong, and as cheap to score as a person's passphrase. Phos scores
 * every new password (zxcvbn) on its event loop, and a string of random hex digits costs it 10–20
 * times as much (l33t substitutions of every digit), which would make the bench measure the
 * scorer instead of the pipeline.
 */
function passphrase() {
  const words = ['orchid', 'lantern', 'gravel', 'tundra', 'maple', 'cobalt', 'fjord', 'wren', 'quartz', 'meadow', 'ember', 'falcon'];
  words.push('harbor', 'violin', 'kettle', 'plum', 'saffron', 'glacier', 'thistle', 'copper', 'juniper', 'basalt', 'heron', 'lagoon');
  const picked = [];
  while (picked.length < 4) {
    const word = words[randomBytes(1)[0] % words.length];
    if (!picked.includes(word)) picked.push(word);
  }
  return picked.join('-');
}

/** Set while a Phos child runs, so an interrupt can stop it before dropping its database. */
let stopPhos = null;

/**
 * Phos's phases, each beside its yardstick: paced self-registrations (RATE > 0 only); the flood
 * between two argon2id measurements; the walk-ins between two runs of `rawStack()`, the unpaced
 * baseline, when there is one. Measured side by side, the ratios survive a noisy machine.
 */
async function runPhos(databaseUrl, runId, password, adminDb, rawStack) {
  const statements = await statementCounter(adminDb, databaseUrl);
  const prefix = `phosbench-${runId}`;
  const admin = { email: `admin-${runId}@bench.test`, password };
  const phos = await startPhos({
    databaseUrl,
    redisUrl: REDIS_URL,
    prefix,
    admin,
    env: { PHOS_WORKER_CONCURRENCY: String(CONCURRENCY), UV_THREADPOOL_SIZE: String(THREADPOOL) },
    nodeArgs: [
      ...(CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF_DIR] : []),
      '--import',
      `data:text/javascript,${encodeURIComponent(LOOP_PROBE)}`,
    ],
    extraPipes: 1,
    readyTimeoutMs: 30_000,
    stopTimeoutMs: 10_000,
  });
  stopPhos = phos.stop;
  const loop = loopSamples(phos.child.stdio[3]);
  try {
    const { cookie: adminCookie } = await trpc(phos.base, 'auth.login', admin);
    const provider = { email: `provider-${runId}@bench.test`, password };
    await trpc(phos.base, 'admin.createUser', { ...provider, role: 'Provider', firstName: 'Bench', lastName: 'Provider' }, adminCookie);
    const { cookie: providerCookie } = await trpc(phos.base, 'auth.login', provider);
    // A second session for the probe, so it is not the subscription's.
    const { cookie: probeCookie } = await trpc(phos.base, 'auth.login', provider);

    // Every phase's arrivals come through one subscription, matched by the patient's last name.
    const expected = new Map(); // lastName -> { phase, start }
    const seenIds = [];
    const subscription = await subscribe(phos.base, providerCookie, (change, id) => {
      seenIds.push(BigInt(id));
      if (change.type !== 'queue.entry.added') return;
      const waiting = expected.get(change.entry.lastName);
      if (waiting === undefined) return;
      expected.delete(change.entry.lastName);
      const { phase, start } = waiting;
      phase.lastArrival = performance.now();
      phase.latencies.push(phase.lastArrival - start);
      if (++phase.arrivals === N) phase.allArrived();
    });

    /** Sends N requests through `send(i, lastName)`, each counted when its queue event arrives. */
    async function phase(name, rate, send, { probe = false } = {}) {
      const state = { latencies: [], requestMs: [], arrivals: 0, lastArrival: 0 };
      const everyoneArrived = new Promise((resolve) => (state.allArrived = resolve));
      const stopProbe = probe ? startProbe(phos.base, probeCookie) : null;
      const loopFrom = Date.now();
      const cpuBefore = readCpu(phos.pid);
      const backendsBefore = await backendTicks(adminDb, databaseUrl);
      const statementsBefore = await statements?.byStatement();
      const benchBefore = process.cpuUsage();
      const machineBefore = machineTicks();
      const t0 = performance.now();
      await offer(rate, async (i) => {
        const lastName = `Bench${runId}${name[0]}n${i}`;
        const t = performance.now();
        expected.set(lastName, { phase: state, start: t });
        await send(i, lastName);
        state.requestMs.push(performance.now() - t);
      });
      const tSent = performance.now();
      try {
        await withTimeout(everyoneArrived, PHASE_TIMEOUT_MS, `${N} queue events (${name})`);
      } catch (error) {
        await stopProbe?.();
        const rows = await countRows(databaseUrl);
        throw new Error(
          `${error.message}: ${state.arrivals} arrived; subscription ${subscription.ended() ?? 'still open'}; ` +
            `last event id seen ${seenIds.at(-1) ?? 'none'}; database ${JSON.stringify(rows)}; ` +
            `still waiting for ${expected.size}\nPhos stderr:\n${phos.stderr()}`,
          { cause: error },
        );
      }
      const windowMs = state.lastArrival - t0;
      const cpu = cpuBetween(cpuBefore, readCpu(phos.pid), windowMs);
      const bench = process.cpuUsage(benchBefore);
      const machine = machineTicks();
      const postgresMs = backendCpuMs(backendsBefore, await backendTicks(adminDb, databaseUrl));
      const sqlStatements = statementsBefore && perItem(statementsBefore, await statements.byStatement());
      const machineBusy = (machine.busy - machineBefore.busy) / (machine.busy - machineBefore.busy + machine.idle - machineBefore.idle);
      const probed = await stopProbe?.();
      const loopWindow = loop.filter((s) => s.t >= loopFrom);
      const latency = summary(state.latencies);
      const request = summary(state.requestMs);
      return {
        n: N,
        inflight: rate > 0 ? null : INFLIGHT,
        rate,
        request_per_s: Math.round(N / ((tSent - t0) / 1000)),
        e2e_per_s: Math.round(N / (windowMs / 1000)),
        p50_ms: latency.p50,
        p95_ms: latency.p95,
        p99_ms: latency.p99,
        request_p50_ms: request.p50,
        request_p95_ms: request.p95,
        request_p99_ms: request.p99,
        window_s: Number((windowMs / 1000).toFixed(2)),
        ...(probed ? { probe: probed } : {}),
        phos_cpu: { ...cpu, ms_per_item: Number(((cpu.process_cpu_cores * windowMs) / N).toFixed(2)) },
        postgres_cpu: { cores: Number((postgresMs / windowMs).toFixed(3)), ms_per_item: Number((postgresMs / N).toFixed(2)) },
        ...(sqlStatements ? { sql_statements: sqlStatements } : {}),
        bench_cpu_cores: Number(((bench.user + bench.system) / 1000 / windowMs).toFixed(3)),
        // Of both CPUs, whoever used them: Phos, its PostgreSQL backends, the bench, and anything else on the machine.
        machine_cpu_busy: Number(machineBusy.toFixed(3)),
        event_loop: {
          // The sampler's own timer interval is not delay.
          worst_delay_per_250ms: summary(loopWindow.map((s) => Math.max(0, s.max - LOOP_RESOLUTION_MS))),
          utilization_mean: loopWindow.length
            ? Number((loopWindow.reduce((sum, s) => sum + s.elu, 0) / loopWindow.length).toFixed(3))
            : null,
        },
      };
    }

    const register = (label) => (i, lastName) =>
      trpc(phos.base, 'auth.register', {
        email: `patient-${runId}-${label}${i}@bench.test`,
        password,
        firstName: 'Pat',
        lastName,
        dateOfBirth: dateOfBirth(i),
      });
    const walkIn = (i, lastName) =>
      trpc(phos.base, 'patients.registerWalkIn', { firstName: 'Walk', lastName, dateOfBirth: dateOfBirth(i) }, providerCookie);

    /** The walk-ins, between two runs of the raw stack. */
    const walkInsBesideRawStack = async () => {
      if (rawStack) log('raw stack, unpaced, before the walk-ins…');
      const rawBefore = await rawStack?.();
      log(`Phos: ${N} walk-ins, ${INFLIGHT} in flight…`);
      const walkins = await phase('walkins', 0, walkIn);
      if (rawStack) log('raw stack again, after the walk-ins…');
      const rawAfter = await rawStack?.();
      return { walkins, rawBefore, rawAfter };
    };
    // Ids the subscription carries skip the events it does not show (patient.created), so they
    // must rise strictly (no duplicate, no reordering) rather than by exactly one.
    const idsInOrder = async () => {
      subscription.close();
      await subscription.done;
      return seenIds.every((id, i) => i === 0 || id > seenIds[i - 1]);
    };

    if (ONLY === 'walkins') {
      const { walkins, rawBefore, rawAfter } = await walkInsBesideRawStack();
      return {
        walkins,
        rawStack: rawBefore && rawAfter ? { before: rawBefore, after: rawAfter } : null,
        events: { event_ids_increasing: await idsInOrder() },
      };
    }

    let paced = null;
    if (RATE > 0) {
      log(`Phos: ${N} self-registrations paced at ${RATE}/s…`);
      paced = await phase('paced', RATE, register('p'));
    }
    log(`argon2id: ${ARGON2_SECONDS} s on a pool of ${THREADPOOL}, before the flood…`);
    const argon2Before = await measureArgon2(password);
    log(`Phos: a flood of ${N} self-registrations, ${INFLIGHT} in flight, auth.me every ${PROBE_EVERY_MS} ms…`);
    const flood = await phase('flood', 0, register('f'), { probe: true });
    log('argon2id again, after the flood…');
    const argon2After = await measureArgon2(password);
    const { walkins, rawBefore, rawAfter } = await walkInsBesideRawStack();
    const inOrder = await idsInOrder();
    return {
      paced,
      flood,
      walkins,
      argon2: { before: argon2Before, after: argon2After },
      rawStack: rawBefore && rawAfter ? { before: rawBefore, after: rawAfter } : null,
      events: { event_ids_increasing: inOrder, events_seen: seenIds.length },
    };
  } finally {
    stopPhos = null;
    await phos.stop();
  }
}

// ---------------------------------------------------------------- orchestration

/** Calls per statement text in `databaseUrl`'s database, when the server has pg_stat_statements loaded; else null. */
async function statementCounter(adminDb, databaseUrl) {
  const { rows } = await adminDb.query(`select current_setting('shared_preload_libraries') as libs`);
  if (!rows[0].libs.split(',').some((lib) => lib.trim() === 'pg_stat_statements')) return null;
  // The view lists every database's statements; it is read from the admin connection's database.
  await adminDb.query('create extension if not exists pg_stat_statements');
  const database = new URL(databaseUrl).pathname.slice(1);
  return {
    async byStatement() {
      const result = await adminDb.query(
        `select query, sum(calls)::bigint as calls from pg_stat_statements
         where dbid = (select oid from pg_database where datname = $1) and query not like '%pg_stat_%' group by query`,
        [database],
      );
      return new Map(result.rows.map((row) => [row.query, Number(row.calls)]));
    },
  };
}

/** The statements run between two readings, per item, most frequent first. */
function perItem(before, after) {
  const rows = [];
  let total = 0;
  for (const [query, calls] of after) {
    const n = calls - (before.get(query) ?? 0);
    if (n <= 0) continue;
    total += n;
    rows.push({ per_item: Number((n / N).toFixed(2)), query: query.replace(/\s+/g, ' ').slice(0, 160) });
  }
  rows.sort((a, b) => b.per_item - a.per_item);
  return { per_item: Number((total / N).toFixed(2)), by_statement: rows };
}

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

/** The registration figures in the shape this bench has always printed as `phos`. */
function phosFigures(p, events, rows) {
  return {
    n: p.n,
    inflight: INFLIGHT,
    worker_concurrency: CONCURRENCY,
    rate: p.rate,
    register_per_s: p.request_per_s,
    e2e_per_s: p.e2e_per_s,
    p50_ms: p.p50_ms,
    p95_ms: p.p95_ms,
    p99_ms: p.p99_ms,
    register_request_p50_ms: p.request_p50_ms,
    register_request_p95_ms: p.request_p95_ms,
    ...events,
    ...rows,
  };
}

function report(result) {
  const { flood, walkins, argon2 } = result;
  const fmt = (s) => `${s.p50 ?? '-'}/${s.p95 ?? '-'}/${s.p99 ?? '-'}`;
  const cpu = (p) =>
    `CPU: Phos ${p.phos_cpu.process_cpu_cores} cores, ${p.phos_cpu.ms_per_item} ms each (main thread on a CPU ${p.phos_cpu.main_thread_on_cpu} of the time, ` +
    `waiting for one ${p.phos_cpu.main_thread_waiting_for_cpu}; pool ${p.phos_cpu.threadpool_cpu_cores} cores); PostgreSQL ${p.postgres_cpu.cores} cores, ` +
    `${p.postgres_cpu.ms_per_item} ms each; bench ${p.bench_cpu_cores}; machine ${p.machine_cpu_busy} busy`;
  const lines = [
    `registration: N=${N}, inflight ${INFLIGHT}, worker concurrency ${CONCURRENCY}, rate ${RATE}, thread pool ${THREADPOOL}, ${result.cpus} CPUs`,
    `  raw stack, unpaced: ${result.baseline_throughput?.before.e2e_per_s ?? '-'}/s before the walk-ins, ${result.baseline_throughput?.after.e2e_per_s ?? '-'}/s after ` +
      `(mean ${result.baseline_throughput?.e2e_per_s ?? '-'}/s)`,
    `  argon2id: ${argon2.before.per_s}/s on ${argon2.before.cpu_cores} cores before, ${argon2.after.per_s}/s on ${argon2.after.cpu_cores} after (mean ${argon2.per_s}/s); ` +
      `${argon2.before.cpu_ms_per_hash} ms CPU per hash; password strength check ${argon2.before.password_check_ms} ms`,
    `  flood: ${flood.request_per_s} registered/s, ${flood.e2e_per_s}/s end to end; request p50/p95/p99 ${flood.request_p50_ms}/${flood.request_p95_ms}/${flood.request_p99_ms} ms`,
    `    auth.me p50/p95/p99 ${fmt(flood.probe.auth_me_ms)} ms; signed out ${fmt(flood.probe.auth_me_signed_out_ms)} ms; ` +
      `/healthz ${fmt(flood.probe.healthz_ms)} ms (${flood.probe.auth_me_ms.n} probes each, ${flood.probe.failed} failed)`,
    `    event loop: worst delay per 250 ms p50/p95/p99 ${fmt(flood.event_loop.worst_delay_per_250ms)} ms, utilisation ${flood.event_loop.utilization_mean}`,
    `    ${cpu(flood)}`,
    `  walk-ins: ${walkins.request_per_s} requests/s, ${walkins.e2e_per_s}/s end to end; latency p50/p95/p99 ${walkins.p50_ms}/${walkins.p95_ms}/${walkins.p99_ms} ms`,
    `    ${cpu(walkins)}`,
    `  patients ${result.database.patients}/${result.database.patients_expected}, queue entries ${result.database.queue_entries}, outbox unsent ${result.database.outbox_unsent}, event ids increasing ${result.phos.event_ids_increasing}`,
    '',
    ...formatGoals(result.goals),
  ];
  console.log(lines.join('\n'));
}

/** The walk-ins-only run's figures and checks; returns the exit code. */
function reportWalkinsOnly(measured, rows) {
  const raw = measured.rawStack;
  const rawE2e = raw && Math.round((raw.before.e2e_per_s + raw.after.e2e_per_s) / 2);
  const { walkins } = measured;
  const result = {
    when: new Date().toISOString(),
    walkins,
    raw_stack: raw,
    e2e_over_baseline: ratio(walkins.e2e_per_s, rawE2e),
    database: rows,
  };
  console.log(JSON.stringify(result));
  const lines = [
    `walk-ins only: N=${N}, inflight ${INFLIGHT}, worker concurrency ${CONCURRENCY}`,
    `  raw stack ${raw?.before.e2e_per_s ?? '-'}/s before, ${raw?.after.e2e_per_s ?? '-'}/s after (mean ${rawE2e ?? '-'}/s)`,
    `  walk-ins: ${walkins.request_per_s} requests/s, ${walkins.e2e_per_s}/s end to end (÷ raw ${result.e2e_over_baseline ?? '-'}); ` +
      `latency p50/p95/p99 ${walkins.p50_ms}/${walkins.p95_ms}/${walkins.p99_ms} ms`,
    `    CPU: Phos ${walkins.phos_cpu.ms_per_item} ms each (${walkins.phos_cpu.process_cpu_cores} cores; main thread waiting for a CPU ` +
      `${walkins.phos_cpu.main_thread_waiting_for_cpu}); PostgreSQL ${walkins.postgres_cpu.ms_per_item} ms each; machine ${walkins.machine_cpu_busy} busy`,
    ...(walkins.sql_statements
      ? [
          `  SQL statements per walk-in: ${walkins.sql_statements.per_item}`,
          ...walkins.sql_statements.by_statement.map((row) => `    ${String(row.per_item).padStart(5)}  ${row.query}`),
        ]
      : []),
    `  patients ${rows.patients}/${N}, queue entries ${rows.queue_entries}, outbox unsent ${rows.outbox_unsent}, event ids increasing ${measured.events.event_ids_increasing}`,
  ];
  console.log(lines.join('\n'));
  if (rows.patients !== N || rows.queue_entries !== N || rows.outbox_unsent !== 0 || !measured.events.event_ids_increasing) return 1;
  return 0;
}

const runId = randomBytes(4).toString('hex');
const prefix = `phosbench-${runId}`;
const db = await createBenchDatabase(PG_URL, `phos_bench_${runId}`);
log(
  `database phos_bench_${runId}, Redis prefix ${prefix}, N=${N} inflight=${INFLIGHT} concurrency=${CONCURRENCY} rate=${RATE} thread pool=${THREADPOOL}`,
);

const cleanup = async () => {
  const keys = await deleteKeys(REDIS_URL, prefix).catch((error) => (log('Redis cleanup failed:', error.message), 0));
  await db.drop().catch((error) => log('drop failed:', error.message));
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
  if (baselineSource && RATE > 0) {
    log(`baseline at rate ${RATE}…`);
    baseline = await runBaseline(db.url, RATE);
    log('baseline', JSON.stringify(baseline));
  } else if (!baselineSource) {
    log('no BENCH_BASELINE_DIR: measuring Phos alone, without the raw-stack ratios');
  }
  const rawStack = baselineSource
    ? async () => {
        const result = await runBaseline(db.url, 0);
        log('baseline', JSON.stringify(result));
        return result;
      }
    : null;
  const password = passphrase();
  const measured = await runPhos(db.url, runId, password, db.adminDb, rawStack);
  const rows = await countRows(db.url);
  if (ONLY === 'walkins') exitCode = reportWalkinsOnly(measured, rows);
  else {
    const { flood, walkins } = measured;
    // Unpaced, the baseline the registrations compare with is the raw stack's first run.
    if (RATE === 0) baseline = measured.rawStack?.before ?? null;
    const raw = measured.rawStack;
    const baselineThroughput = raw && { ...raw, e2e_per_s: Math.round((raw.before.e2e_per_s + raw.after.e2e_per_s) / 2) };
    const argon2PerS = Number(((measured.argon2.before.per_s + measured.argon2.after.per_s) / 2).toFixed(1));
    // At RATE 0 the self-registration run is the flood; paced, it is its own phase.
    const phos = phosFigures(measured.paced ?? flood, measured.events, {});
    const result = {
      when: new Date().toISOString(),
      cpus: os.cpus().length,
      phos,
      baseline,
      ratio_phos_over_baseline: {
        e2e_per_s: ratio(phos.e2e_per_s, baseline?.e2e_per_s),
        p50_ms: ratio(phos.p50_ms, baseline?.p50_ms),
        p95_ms: ratio(phos.p95_ms, baseline?.p95_ms),
        p99_ms: ratio(phos.p99_ms, baseline?.p99_ms),
      },
      baseline_throughput: baselineThroughput,
      threadpool: THREADPOOL,
      argon2: { ...measured.argon2, per_s: argon2PerS },
      flood: {
        ...flood,
        register_over_argon2: ratio(flood.request_per_s, argon2PerS),
        e2e_over_argon2: ratio(flood.e2e_per_s, argon2PerS),
      },
      walkins: { ...walkins, e2e_over_baseline: ratio(walkins.e2e_per_s, baselineThroughput?.e2e_per_s) },
      database: { ...rows, patients_expected: N * (RATE > 0 ? 3 : 2) },
    };
    result.goals = [
      atLeast('walk-ins e2e ÷ raw stack e2e', result.walkins.e2e_over_baseline, 0.5),
      atLeast('flood registrations/s ÷ argon2id/s', result.flood.register_over_argon2, 0.8),
      atLeast('flood e2e/s ÷ argon2id/s', result.flood.e2e_over_argon2, 0.8),
      atMost('auth.me p99 during the flood', flood.probe.auth_me_ms.p99, 50, ' ms'),
    ];
    console.log(JSON.stringify(result));
    report(result);
    const correct =
      rows.patients === result.database.patients_expected &&
      rows.queue_entries === result.database.patients_expected &&
      rows.outbox_unsent === 0 &&
      measured.events.event_ids_increasing;
    if (!correct) {
      log('registrations went missing or arrived out of order: see database and phos.event_ids_increasing');
      exitCode = 1;
    }
  }
} catch (error) {
  exitCode = 1;
  log(error instanceof Error ? error.stack : error);
} finally {
  const keys = await cleanup();
  log(`cleaned up: dropped phos_bench_${runId}, removed ${keys} leftover Redis key(s) under ${prefix}:`);
}
process.exit(exitCode);
