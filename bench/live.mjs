// Live fan-out benchmark: P patients on visit.onMine, D dashboards on queue.onChange, an event
// source moving queue entries at R/s for S seconds; measures delivery latency, mutation latency,
// SQL statements, CPU and memory per event, and checks every dashboard got every queue event once,
// in order. Only Phos's HTTP API is used, so it measures the server whatever its internals. See
// bench/README.md.
//
//   node bench/live.mjs [--quick] [--patients 5000] [--dashboards 300] [--rate 10] [--seconds 60]
//                       [--split] [--own-postgres] [--out file.json]
import { execFileSync, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  atLeast,
  atMost,
  clockTicks,
  formatGoals,
  freePort,
  inBatches,
  openBenchRun,
  parseSseBlock,
  processStats,
  ratio,
  root,
  saveResult,
  serverRequire,
  startPhos,
  summary,
  trpc,
  waitFor,
} from './lib.mjs';
import { measureFanoutFloor } from './fanout-floor.mjs';

const self = fileURLToPath(import.meta.url);
const log = (...args) => console.error('[bench:live]', ...args);
/** Wall-clock milliseconds with sub-millisecond precision, comparable across the bench's processes. */
const now = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------- child: subscribers

/**
 * One SSE subscription over node:http (lighter than fetch for thousands of streams). Calls
 * `onEvent(event, data, id)` per dispatched event; resolves when the server accepted it.
 */
function openStream(agent, base, pathAndQuery, cookie, onEvent, onEnd) {
  return new Promise((resolve, reject) => {
    const request = http.get(`${base}${pathAndQuery}`, { agent, headers: { cookie, accept: 'text/event-stream' } }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`${pathAndQuery.split('?')[0]} answered ${response.statusCode}`));
        return;
      }
      response.setEncoding('utf8');
      let buffer = '';
      let opened = false;
      response.on('data', (chunk) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const { event, id, data } = parseSseBlock(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event === 'connected' && !opened) {
            opened = true;
            resolve(() => request.destroy());
          }
          onEvent(event, data, id);
        }
      });
      response.on('end', () => onEnd('the server ended the stream'));
      response.on('error', () => undefined);
    });
    request.on('error', (error) => {
      reject(error);
      onEnd(`connection error: ${error.message}`);
    });
  });
}

/** Child process: holds dashboards (queue.onChange) or patients (visit.onMine) and reports what they saw. */
async function subscribersChild() {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const closers = [];
  const ended = [];
  let stopping = false;
  const dashboards = []; // { api, events: [[id, key, t]] }
  const patients = []; // { api, updates, firstVisitAt, stages: Map(`patientId:stage` -> t) }
  let problems = [];

  async function open(kind, base, subs) {
    await inBatches(subs, 50, async (sub, i) => {
      if (kind === 'dashboards') {
        const record = { api: sub.api ?? 0, events: [] };
        dashboards.push(record);
        const query = `?input=${encodeURIComponent(JSON.stringify({ lastEventId: sub.from }))}`;
        const close = await openStream(
          agent,
          sub.base ?? base,
          `/trpc/queue.onChange${query}`,
          sub.cookie,
          (event, data, id) => {
            if (event === 'serialized-error') problems.push(`dashboard ${i}: ${data.slice(0, 200)}`);
            if (event !== 'message' || data === '') return;
            const change = JSON.parse(data);
            record.events.push([id, `${change.entry.id}:${change.entry.version}`, now()]);
          },
          (why) => stopping || ended.push(`dashboard ${i}: ${why}`),
        );
        closers.push(close);
      } else {
        const record = { api: sub.api ?? 0, patientId: null, updates: 0, firstVisitAt: null, stages: new Map() };
        patients.push(record);
        const close = await openStream(
          agent,
          sub.base ?? base,
          '/trpc/visit.onMine',
          sub.cookie,
          (event, data) => {
            if (event === 'serialized-error') problems.push(`patient ${i}: ${data.slice(0, 200)}`);
            if (event !== 'message' || data === '') return;
            const visit = JSON.parse(data);
            const t = now();
            record.patientId ??= visit.patientId;
            if (record.firstVisitAt === null) record.firstVisitAt = t;
            else record.updates += 1;
            const key = `${visit.patientId}:${visit.stage}`;
            if (!record.stages.has(key)) record.stages.set(key, t);
          },
          (why) => stopping || ended.push(`patient ${i}: ${why}`),
        );
        closers.push(close);
      }
    });
  }

  function progress() {
    return {
      dashboardCounts: dashboards.map((d) => d.events.length),
      patientsWithFirstVisit: patients.filter((p) => p.firstVisitAt !== null).length,
      stageKeys: patients.flatMap((p) => [...p.stages.keys()]),
      ended: ended.length,
    };
  }

  /**
   * Checks each dashboard's ids against the expected sequence and computes delivery latencies.
   * `byApi` counts, per api a stream was on, the dashboards (and exact ones) that received
   * changes made through another api (`--split`).
   */
  function analyse({ expectedIds, mutations, stageMoves }) {
    const byApi = {};
    const apiStats = (api) =>
      (byApi[api] ??= { dashboards: 0, exact: 0, sawOtherApi: 0, exactSawOtherApi: 0, otherApiEvents: 0, stageChangesFromOtherApi: 0 });
    const expectedIndex = new Map(expectedIds.map((id, i) => [id, i]));
    const fromRequest = [];
    const fromResponse = [];
    let missed = 0;
    let duplicated = 0;
    let unexpected = 0;
    let outOfOrder = 0;
    let exact = 0;
    for (const dashboard of dashboards) {
      const ids = dashboard.events.map(([id]) => id);
      const seen = new Set();
      let last = -1;
      for (const id of ids) {
        if (seen.has(id)) duplicated += 1;
        seen.add(id);
        const index = expectedIndex.get(id);
        if (index === undefined) unexpected += 1;
        else if (index < last) outOfOrder += 1;
        else last = index;
      }
      missed += expectedIds.filter((id) => !seen.has(id)).length;
      const isExact = ids.length === expectedIds.length && ids.every((id, i) => id === expectedIds[i]);
      if (isExact) exact += 1;
      let otherApiEvents = 0;
      for (const [, key, t] of dashboard.events) {
        const mutation = mutations[key];
        if (!mutation) continue;
        fromRequest.push(t - mutation.tReq);
        fromResponse.push(t - mutation.tRes);
        if (mutation.api !== dashboard.api) otherApiEvents += 1;
      }
      const stats = apiStats(dashboard.api);
      stats.dashboards += 1;
      if (isExact) stats.exact += 1;
      stats.otherApiEvents += otherApiEvents;
      if (otherApiEvents > 0) stats.sawOtherApi += 1;
      if (otherApiEvents > 0 && isExact) stats.exactSawOtherApi += 1;
    }
    const stageFromRequest = [];
    const stageFromResponse = [];
    const received = new Map();
    const patientApi = new Map();
    for (const patient of patients) {
      for (const [key, t] of patient.stages) {
        received.set(key, t);
        patientApi.set(key, patient.api);
      }
    }
    let stageMissed = 0;
    // Only the child holding that patient's stream can tell: each judges the moves of its own patients.
    const mine = new Set(patients.map((patient) => patient.patientId));
    for (const [key, move] of Object.entries(stageMoves)) {
      if (!mine.has(key.slice(0, key.indexOf(':')))) continue;
      const t = received.get(key);
      if (t === undefined) stageMissed += 1;
      else {
        stageFromRequest.push(t - move.tReq);
        stageFromResponse.push(t - move.tRes);
        if (move.api !== patientApi.get(key)) apiStats(patientApi.get(key)).stageChangesFromOtherApi += 1;
      }
    }
    return {
      dashboards: { count: dashboards.length, exact, missed, duplicated, unexpected, outOfOrder, fromRequest, fromResponse },
      patients: {
        count: patients.length,
        updates: patients.reduce((sum, p) => sum + p.updates, 0),
        stageMissed,
        stageFromRequest,
        stageFromResponse,
      },
      byApi,
      ended,
      problems,
    };
  }

  process.on('message', async (message) => {
    try {
      if (message.type === 'open') {
        await open(message.kind, message.base, message.subs);
        process.send({ type: 'opened' });
      } else if (message.type === 'progress') {
        process.send({ type: 'progress', ...progress() });
      } else if (message.type === 'analyse') {
        stopping = true;
        for (const close of closers) close();
        process.send({ type: 'analysis', ...analyse(message) });
        setTimeout(() => process.exit(0), 100);
      }
    } catch (error) {
      process.send({ type: 'error', message: error.stack ?? String(error) });
    }
  });
  process.send({ type: 'started' });
}

// ---------------------------------------------------------------- child: event source

/**
 * Child process: moves entries through waiting → in_triage → (triage) → with_clinician → done at
 * `rate` moves/s for `seconds`, open loop. Moves of one entry are `window` slots apart, so at
 * most rates they never wait on each other; a move whose previous one on the same entry has not
 * answered yet waits for it (and is counted late).
 */
async function sourceChild() {
  const started = new Promise((resolve) => process.once('message', resolve));
  process.send({ type: 'started' });
  const message = await started;
  const { bases, cookie, entries, rate, seconds, window } = message;
  const steps = [
    { procedure: 'queue.transition', input: { to: 'in_triage' }, stage: 'in_triage' },
    { procedure: 'queue.triage', input: { acuity: 3 }, stage: null },
    { procedure: 'queue.transition', input: { to: 'with_clinician' }, stage: 'with_clinician' },
    { procedure: 'queue.transition', input: { to: 'done' }, stage: 'done' },
  ];
  const total = Math.round(rate * seconds);
  const state = entries.map((entry) => ({ ...entry, pending: Promise.resolve(), failed: false }));
  const records = [];
  let late = 0;
  let skipped = 0;
  const t0 = now() + 50;
  const inFlight = [];
  for (let n = 0; n < total; n++) {
    const group = Math.floor(n / (4 * window));
    const within = n % (4 * window);
    const entry = state[group * window + (within % window)];
    const step = steps[Math.floor(within / window)];
    // With two apis, neighbouring entries alternate, and so does each entry from one move to the next.
    const api = ((within % window) + Math.floor(within / window)) % bases.length;
    const wait = t0 + (n * 1000) / rate - now();
    if (wait > 1) await delay(wait);
    const previous = entry.pending;
    entry.pending = (async () => {
      const before = now();
      await previous;
      if (now() - before > 1) late += 1;
      // A failed move leaves the entry's version unknown: its later moves are skipped, and counted.
      if (entry.failed) {
        skipped += 1;
        return;
      }
      const tReq = now();
      try {
        const { data } = await trpc(
          bases[api],
          step.procedure,
          { entryId: entry.id, expectedVersion: entry.version, ...step.input },
          cookie,
        );
        const tRes = now();
        entry.version = data.entry.version;
        records.push({
          ok: true,
          api,
          key: `${entry.id}:${data.entry.version}`,
          stageKey: step.stage ? `${entry.patientId}:${step.stage}` : null,
          tReq,
          tRes,
        });
      } catch (error) {
        entry.failed = true;
        records.push({ ok: false, api, error: error.message, tReq, tRes: now() });
      }
    })();
    inFlight.push(entry.pending);
  }
  await Promise.all(inFlight);
  process.send({ type: 'done', records, late, skipped, offered: total });
  setTimeout(() => process.exit(0), 100);
}

// ---------------------------------------------------------------- orchestrator

function parseArgs(argv) {
  const quick = argv.includes('--quick');
  const options = {
    patients: quick ? 50 : 5000,
    dashboards: quick ? 20 : 300,
    rate: quick ? 5 : 10,
    seconds: quick ? 10 : 60,
    ownPostgres: argv.includes('--own-postgres'),
    cpuProf: argv.includes('--cpu-prof'),
    heapSnapshot: argv.includes('--heap-snapshot'),
    heapMib: undefined,
    split: argv.includes('--split'),
    quick,
    out: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (['patients', 'dashboards', 'rate', 'seconds'].includes(name)) {
      const value = Number(argv[++i]);
      if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
      options[name] = name === 'rate' ? value : Math.round(value);
    } else if (name === 'out') options.out = path.resolve(argv[++i]);
    else if (name === 'heap-mib') options.heapMib = Number(argv[++i]);
    else if (!['quick', 'own-postgres', 'cpu-prof', 'heap-snapshot', 'split'].includes(name))
      throw new Error(`unknown argument ${argv[i]}`);
  }
  return options;
}

/** A private PostgreSQL with pg_stat_statements loaded (initdb as the postgres OS user when root). */
async function startOwnPostgres() {
  const pgRoot = '/usr/lib/postgresql';
  const version = readdirSync(pgRoot)
    .filter((v) => {
      try {
        return readdirSync(path.join(pgRoot, v, 'bin')).includes('initdb');
      } catch {
        return false;
      }
    })
    .sort((a, b) => Number(b) - Number(a))[0];
  if (!version) throw new Error('--own-postgres: no PostgreSQL server binaries under /usr/lib/postgresql');
  const bin = path.join(pgRoot, version, 'bin');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'phos-bench-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const exec = (command, args) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, command), ...args])
      : execFileSync(path.join(bin, command), args);
  const data = path.join(dir, 'data');
  const port = await freePort();
  exec('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_preload_libraries=pg_stat_statements`;
  exec('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      try {
        exec('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Streams one Provider session holds: below the server's per-session cap. */
const STREAMS_PER_SESSION = 10;
const DASHBOARDS_PER_SESSION = 8;
const PATIENTS_PER_PROCESS = 2500;
const DASHBOARDS_PER_PROCESS = 500;

function forkChild(role) {
  const child = fork(self, ['--role', role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  const waiters = [];
  child.on('message', (message) => {
    const index = waiters.findIndex((w) => w.type === message.type || message.type === 'error');
    if (index === -1) return;
    const [waiter] = waiters.splice(index, 1);
    if (message.type === 'error') waiter.reject(new Error(`${role} child: ${message.message}`));
    else waiter.resolve(message);
  });
  child.on('exit', (code) => {
    for (const waiter of waiters.splice(0)) waiter.reject(new Error(`${role} child exited with ${code}`));
  });
  return {
    child,
    ask(message, replyType, timeoutMs = 600_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${role} child gave no ${replyType} within ${timeoutMs / 1000} s`)), timeoutMs);
        waiters.push({
          type: replyType,
          resolve: (m) => (clearTimeout(timer), resolve(m)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
        if (message) child.send(message);
      });
    },
    kill: () => child.exitCode === null && child.kill('SIGKILL'),
  };
}

function dateOfBirth(i) {
  return `${1940 + (i % 65)}-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 28) + 1).padStart(2, '0')}`;
}

function chunks(items, size) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Statements (pg_stat_statements) or, without it, transactions (pg_stat_database) run in `database`. */
async function sqlCounter(adminDb, benchDb, database) {
  const { rows } = await adminDb.query(`select current_setting('shared_preload_libraries') as libs`);
  if (rows[0].libs.split(',').some((lib) => lib.trim() === 'pg_stat_statements')) {
    await benchDb.query('create extension if not exists pg_stat_statements');
    return {
      counter: 'pg_stat_statements.calls',
      async read() {
        const result = await benchDb.query(
          `select coalesce(sum(calls), 0)::bigint as n from pg_stat_statements where dbid = (select oid from pg_database where datname = $1) and query not like '%pg_stat_statements%'`,
          [database],
        );
        return Number(result.rows[0].n);
      },
      /** Calls per statement text, to say which statements an event costs. */
      async byStatement() {
        const result = await benchDb.query(
          `select query, sum(calls)::bigint as calls from pg_stat_statements where dbid = (select oid from pg_database where datname = $1) and query not like '%pg_stat_statements%' group by query`,
          [database],
        );
        return new Map(result.rows.map((row) => [row.query, Number(row.calls)]));
      },
    };
  }
  return {
    counter: 'pg_stat_database.xact_commit+xact_rollback (pg_stat_statements not loaded: transactions, not statements)',
    async read() {
      await adminDb.query('select pg_stat_clear_snapshot()');
      const result = await adminDb.query(`select (xact_commit + xact_rollback)::bigint as n from pg_stat_database where datname = $1`, [
        database,
      ]);
      return Number(result.rows[0].n);
    },
  };
}

/**
 * `phos`: the Phos processes, `{ name, role, pid, base }` (one `all`, or with `--split` two apis and
 * two workers). Setup, registrations and subscriptions alternate over the apis; CPU and memory are
 * read per process.
 */
async function runScenario(options, { phos, databaseUrl, sql, runId, password, adminCredentials }) {
  const apis = phos.filter((p) => p.base);
  const bases = apis.map((p) => p.base);
  const base = bases[0];
  const { patients: P, dashboards: D, rate, seconds } = options;
  const window = Math.max(4, Math.ceil(rate));
  const moves = Math.round(rate * seconds);
  const needed = Math.ceil(moves / (4 * window)) * window;
  if (needed > P) throw new Error(`${moves} moves need at least ${needed} queued patients (each takes 4 moves): raise --patients`);

  const { cookie: adminCookie } = await trpc(base, 'auth.login', adminCredentials);
  const provider = { email: `provider-${runId}@bench.test`, password };
  await trpc(base, 'admin.createUser', { ...provider, role: 'Provider', firstName: 'Bench', lastName: 'Provider' }, adminCookie);
  const sessions = Math.ceil(D / DASHBOARDS_PER_SESSION) + 1;
  const providerCookies = await inBatches(
    Array.from({ length: sessions }),
    4,
    async (_, i) => (await trpc(bases[i % bases.length], 'auth.login', provider)).cookie,
  );
  const sourceCookie = providerCookies.pop();

  log(`registering ${P} patients…`);
  const tRegister = Date.now();
  const patientCookies = await inBatches(Array.from({ length: P }), 8, async (_, i) => {
    const input = {
      email: `patient-${runId}-${i}@bench.test`,
      password,
      firstName: 'Pat',
      lastName: `Bench${runId}n${i}`,
      dateOfBirth: dateOfBirth(i),
    };
    // As the web app lets a person do: the same details again after a 429/503 or no answer within
    // the minute (the server signs a repeat in).
    for (let attempt = 1; ; attempt++) {
      try {
        return (await trpc(bases[i % bases.length], 'auth.register', input)).cookie;
      } catch (error) {
        if (attempt >= 5 || !([429, 503].includes(error.status) || error.name === 'TimeoutError')) throw error;
        await delay(500 * attempt);
      }
    }
  });
  let list;
  await waitFor(
    `${P} queue entries`,
    async () => {
      list = (await trpc(base, 'queue.list', undefined, sourceCookie)).data;
      return list.entries.length >= P;
    },
    120_000 + P * 100,
    { everyMs: 500, onTimeout: log },
  );
  if (list.entries.length < P) throw new Error(`only ${list.entries.length} of ${P} patients were queued`);
  log(`${P} patients registered and queued in ${((Date.now() - tRegister) / 1000).toFixed(1)} s`);
  const entries = [...list.entries]
    .sort((a, b) => a.arrivedAt.localeCompare(b.arrivedAt))
    .map((entry) => ({ id: entry.id, version: entry.version, patientId: entry.patientId }));
  const from = list.lastEventId;

  log(`opening ${D} dashboards and ${P} patient streams…`);
  const children = [];
  // Alternating over the apis: with --split, each api holds half of each kind.
  const onApi = (i) => ({ api: i % bases.length, base: bases[i % bases.length] });
  const dashboardSubs = Array.from({ length: D }, (_, i) => ({
    cookie: providerCookies[Math.floor(i / DASHBOARDS_PER_SESSION)],
    from,
    ...onApi(i),
  }));
  const patientSubs = patientCookies.map((cookie, i) => ({ cookie, ...onApi(i) }));
  const groups = [
    ...chunks(dashboardSubs, DASHBOARDS_PER_PROCESS).map((subs) => ({ kind: 'dashboards', subs })),
    ...chunks(patientSubs, PATIENTS_PER_PROCESS).map((subs) => ({ kind: 'patients', subs })),
  ];
  try {
    for (const group of groups) {
      const child = forkChild('subscribers');
      children.push(child);
      await child.ask(null, 'started', 30_000);
      await child.ask({ type: 'open', kind: group.kind, base, subs: group.subs }, 'opened');
    }
    const progress = () => Promise.all(children.map((c) => c.ask({ type: 'progress' }, 'progress', 60_000)));
    await waitFor(
      'every patient to get its first visit',
      async () => {
        const reports = await progress();
        return reports.reduce((sum, r) => sum + r.patientsWithFirstVisit, 0) >= P;
      },
      60_000 + P * 20,
      { onTimeout: log },
    );

    // The measured window: from just before the first move until every delivery has arrived.
    const statsOfAll = () => phos.map((p) => processStats(p.pid));
    const before = { phos: statsOfAll(), sql: await sql.read(), statements: await sql.byStatement?.(), t: now() };
    const peakRssKiB = before.phos.map((stats) => stats.rssKiB);
    const sampler = setInterval(() => {
      phos.forEach((p, i) => {
        try {
          peakRssKiB[i] = Math.max(peakRssKiB[i], processStats(p.pid).rssKiB);
        } catch {
          // that process is gone: reported below
        }
      });
    }, 250);
    log(`moving queue entries: ${rate}/s for ${seconds} s…`);
    const source = forkChild('source');
    await source.ask(null, 'started', 30_000);
    const sourceDone = source.ask({ bases, cookie: sourceCookie, entries, rate, seconds, window }, 'done', (seconds + 120) * 1000);
    const { records, late, skipped, offered } = await sourceDone;
    const tMovesDone = now();
    if (options.heapSnapshot) for (const p of phos) process.kill(p.pid, 'SIGUSR2');
    const ok = records.filter((r) => r.ok);
    const stageKeys = new Set(ok.filter((r) => r.stageKey).map((r) => r.stageKey));
    await waitFor(
      'every delivery',
      async () => {
        const reports = await progress();
        const counts = reports.flatMap((r) => r.dashboardCounts);
        const keys = new Set(reports.flatMap((r) => r.stageKeys));
        return counts.every((c) => c >= ok.length) && [...stageKeys].every((key) => keys.has(key));
      },
      30_000,
      { onTimeout: log },
    );
    const drainMs = now() - tMovesDone;
    // pg_stat_database is flushed by backends about once a second.
    if (!sql.counter.startsWith('pg_stat_statements')) await delay(1200);
    const after = { phos: statsOfAll(), sql: await sql.read(), statements: await sql.byStatement?.(), t: now() };
    clearInterval(sampler);

    const expectedIds = await queueEventIds(databaseUrl, from);
    const mutations = Object.fromEntries(ok.map((r) => [r.key, { tReq: r.tReq, tRes: r.tRes, api: r.api }]));
    const stageMoves = Object.fromEntries(
      ok.filter((r) => r.stageKey).map((r) => [r.stageKey, { tReq: r.tReq, tRes: r.tRes, api: r.api }]),
    );
    const analyses = await Promise.all(children.map((c) => c.ask({ type: 'analyse', expectedIds, mutations, stageMoves }, 'analysis')));

    const sum = (pick) => analyses.reduce((total, a) => total + pick(a), 0);
    const all = (pick) => analyses.flatMap(pick);
    const events = expectedIds.length;
    const perEvent = (value) => (events ? Number((value / events).toFixed(3)) : null);
    const processes = phos.map((p, i) => {
      const cpu = ((after.phos[i].ticks - before.phos[i].ticks) * 1000) / clockTicks;
      return {
        name: p.name,
        role: p.role,
        pid: p.pid,
        cpu_ms: Math.round(cpu),
        cpu_ms_per_event: perEvent(cpu),
        rss_before_mib: Math.round(before.phos[i].rssKiB / 1024),
        rss_peak_mib: Math.round(peakRssKiB[i] / 1024),
        rss_hwm_mib: Math.round(after.phos[i].hwmKiB / 1024),
      };
    });
    const cpuMs = ((after.phos.reduce((t, x) => t + x.ticks, 0) - before.phos.reduce((t, x) => t + x.ticks, 0)) * 1000) / clockTicks;
    const largest = (pick) => Math.max(...processes.map(pick));
    // Per api a stream was on: dashboards, exact ones, and those that got changes made through another api.
    const byApi = apis.map((p, api) => {
      const part = (pick) => sum((a) => a.byApi[api]?.[pick] ?? 0);
      return {
        api: p.name,
        dashboards: part('dashboards'),
        dashboards_exact: part('exact'),
        dashboards_saw_other_api_changes: part('sawOtherApi'),
        dashboards_exact_with_other_api_changes: part('exactSawOtherApi'),
        other_api_events_delivered: part('otherApiEvents'),
        patient_stage_changes_from_other_api: part('stageChangesFromOtherApi'),
      };
    });
    const failed = records.filter((r) => !r.ok);
    return {
      events,
      moves: { offered, ok: ok.length, failed: failed.length, skipped, errors: [...new Set(failed.map((r) => r.error))].slice(0, 5), late },
      mutation_ms: summary(ok.map((r) => r.tRes - r.tReq)),
      dashboard_delivery_ms: summary(all((a) => a.dashboards.fromRequest)),
      dashboard_delivery_after_response_ms: summary(all((a) => a.dashboards.fromResponse)),
      patient_stage_delivery_ms: summary(all((a) => a.patients.stageFromRequest)),
      patient_stage_delivery_after_response_ms: summary(all((a) => a.patients.stageFromResponse)),
      tracked: {
        dashboards: sum((a) => a.dashboards.count),
        dashboards_exact: sum((a) => a.dashboards.exact),
        expected_per_dashboard: events,
        moves_acknowledged: ok.length,
        missed: sum((a) => a.dashboards.missed),
        duplicated: sum((a) => a.dashboards.duplicated),
        unexpected: sum((a) => a.dashboards.unexpected),
        out_of_order: sum((a) => a.dashboards.outOfOrder),
        by_api: byApi,
      },
      patients: {
        streams: sum((a) => a.patients.count),
        visit_updates: sum((a) => a.patients.updates),
        stage_changes: Object.keys(stageMoves).length,
        stage_changes_missed: sum((a) => a.patients.stageMissed),
      },
      streams_ended_early_count: sum((a) => a.ended.length),
      streams_ended_early: all((a) => a.ended).slice(0, 10),
      problems_count: sum((a) => a.problems.length),
      problems: all((a) => a.problems).slice(0, 10),
      window_s: Number(((after.t - before.t) / 1000).toFixed(2)),
      drain_ms: Math.round(drainMs),
      sql: {
        counter: sql.counter,
        total: after.sql - before.sql,
        per_event: events ? Number(((after.sql - before.sql) / events).toFixed(2)) : null,
        top: topStatements(before.statements, after.statements, events),
      },
      // Summed over the Phos processes (CPU), or the largest one (memory); each in `processes`.
      phos: {
        cpu_ms: Math.round(cpuMs),
        cpu_ms_per_event: perEvent(cpuMs),
        cpu_ms_per_event_per_dashboard: events && D ? Number((cpuMs / events / D).toFixed(4)) : null,
        rss_before_mib: largest((p) => p.rss_before_mib),
        rss_peak_mib: largest((p) => p.rss_peak_mib),
        rss_hwm_mib: largest((p) => p.rss_hwm_mib),
        processes,
      },
    };
  } finally {
    for (const child of children) child.kill();
  }
}

/** The statements run most often between two pg_stat_statements snapshots, with calls per event. */
function topStatements(before, after, events, count = 12) {
  if (!before || !after || !events) return undefined;
  return [...after]
    .map(([query, calls]) => ({ calls: calls - (before.get(query) ?? 0), query }))
    .filter((row) => row.calls > 0)
    .sort((a, b) => b.calls - a.calls)
    .slice(0, count)
    .map((row) => ({ per_event: Number((row.calls / events).toFixed(2)), query: row.query.replace(/\s+/g, ' ').slice(0, 160) }));
}

/** The ground truth: every queue event the log holds after `from`, in order. */
async function queueEventIds(databaseUrl, from) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query(
      `select id::text from event_log where id > $1 and type in ('queue.entry.added', 'queue.entry.updated') order by event_log.id`,
      [from],
    );
    return rows.map((row) => row.id);
  } finally {
    await client.end();
  }
}

/** The goal table of issue 9: figure, goal, and whether this run met it. */
function goals(result) {
  return [
    atMost('dashboard delivery p99', result.dashboard_delivery_ms.p99, 250, ' ms'),
    atMost('patient stage-change delivery p99', result.patient_stage_delivery_ms.p99, 1000, ' ms'),
    atMost('mutation p99', result.mutation_ms.p99, 100, ' ms'),
    atMost(`SQL per event (${result.sql.counter.split(' ')[0]})`, result.sql.per_event, 30),
    atMost(
      'missed + duplicated tracked events',
      result.tracked.missed + result.tracked.duplicated + result.tracked.unexpected + result.tracked.out_of_order,
      0,
    ),
    ...(result.phos.processes.length === 1
      ? [atMost('Phos peak RSS', result.phos.rss_peak_mib, 1024, ' MiB')]
      : result.phos.processes.map((p) => atMost(`Phos peak RSS, ${p.name}`, p.rss_peak_mib, 1024, ' MiB'))),
    atMost(
      `Phos CPU per event per dashboard${result.phos.processes.length > 1 ? ' (all processes)' : ''}`,
      result.phos.cpu_ms_per_event_per_dashboard,
      0.02,
      ' ms',
    ),
    // Scale-out: every dashboard exact, and each got changes made through the other api.
    ...(result.tracked.by_api.length > 1
      ? result.tracked.by_api.map((a) =>
          atLeast(`dashboards on ${a.api} exact, with the other api's moves`, a.dashboards_exact_with_other_api_changes, a.dashboards),
        )
      : []),
  ];
}

function printReport(options, result, table) {
  const lines = [
    `live fan-out${options.split ? ' (split: 2 apis + 2 workers)' : ''}: ${options.patients} patients, ${options.dashboards} dashboards, ${options.rate} moves/s for ${options.seconds} s`,
    `  events ${result.events} (moves ok ${result.moves.ok}/${result.moves.offered}, failed ${result.moves.failed}, skipped ${result.moves.skipped}, late ${result.moves.late}); window ${result.window_s} s, drain ${result.drain_ms} ms`,
    `  patients: ${result.patients.streams} streams, ${result.patients.visit_updates} visit updates, ${result.patients.stage_changes_missed}/${result.patients.stage_changes} stage changes missed`,
    `  dashboards exact: ${result.tracked.dashboards_exact}/${result.tracked.dashboards}; missed ${result.tracked.missed}, duplicated ${result.tracked.duplicated}, unexpected ${result.tracked.unexpected}, out of order ${result.tracked.out_of_order}`,
    ...(result.tracked.by_api.length > 1
      ? result.tracked.by_api.map(
          (a) =>
            `    on ${a.api}: ${a.dashboards_exact}/${a.dashboards} exact; ${a.dashboards_saw_other_api_changes} saw changes made through another api (${a.other_api_events_delivered} such deliveries), ${a.dashboards_exact_with_other_api_changes} of them exact; patients there saw ${a.patient_stage_changes_from_other_api} stage changes made through another api`,
        )
      : []),
    `  latency p50/p95/p99 ms: mutation ${fmt(result.mutation_ms)}; dashboard ${fmt(result.dashboard_delivery_ms)}; patient stage ${fmt(result.patient_stage_delivery_ms)}`,
    `  streams the server ended early: ${result.streams_ended_early_count}; error events: ${result.problems_count}`,
    ...[...result.problems.slice(0, 3), ...result.streams_ended_early.slice(0, 3)].map((problem) => `    e.g. ${problem.slice(0, 160)}`),
    `  Phos CPU ${result.phos.cpu_ms} ms (${result.phos.cpu_ms_per_event} ms/event); RSS ${result.phos.rss_before_mib} → peak ${result.phos.rss_peak_mib} MiB; SQL ${result.sql.total} (${result.sql.counter})`,
    ...(result.phos.processes.length > 1
      ? result.phos.processes.map(
          (p) =>
            `    ${p.name.padEnd(8)} CPU ${p.cpu_ms} ms (${p.cpu_ms_per_event} ms/event); RSS ${p.rss_before_mib} → peak ${p.rss_peak_mib} MiB (hwm ${p.rss_hwm_mib})`,
        )
      : []),
    ...(result.phos.fanout_floor
      ? [
          `    the machine's floor: a bare Node server writing to ${result.phos.fanout_floor.streams} streams spends ${result.phos.fanout_floor.cpu_ms_per_event_per_stream} ms per event per stream; Phos ${result.phos.cpu_ms_per_event_per_dashboard} (${result.phos.cpu_per_dashboard_over_floor} ×)`,
        ]
      : []),
    ...(result.sql.top ?? []).slice(0, 6).map((row) => `    ${String(row.per_event).padStart(7)} per event: ${row.query.slice(0, 110)}`),
    '',
    ...formatGoals(table, { nameWidth: Math.max(45, ...table.map((row) => row.name.length)) }),
  ];
  console.log(lines.join('\n'));
}

const fmt = (s) => `${s.p50 ?? '-'}/${s.p95 ?? '-'}/${s.p99 ?? '-'}`;

let pg;

async function main() {
  const options = parseArgs(process.argv.slice(2));
  pg = serverRequire('pg');
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const ownPg = options.ownPostgres ? await startOwnPostgres() : undefined;
  const pgUrl = ownPg?.url ?? process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  /** The Phos processes started so far. */
  const phos = [];
  let benchDb;
  const { runId, database, prefix, db, cleanup } = await openBenchRun({
    pgUrl,
    redisUrl,
    log,
    async beforeCleanup() {
      await Promise.all(phos.map((p) => p.stop().catch(() => undefined)));
      await benchDb?.end().catch(() => undefined);
    },
    afterCleanup: () => ownPg?.stop(),
  });

  let exitCode = 0;
  try {
    benchDb = new pg.Client({ connectionString: db.url });
    await benchDb.connect();
    const sql = await sqlCounter(db.adminDb, benchDb, database);
    log(`SQL counter: ${sql.counter}`);
    const password = `bench-${randomBytes(12).toString('hex')}`;
    const adminCredentials = { email: `admin-${runId}@bench.test`, password };
    const profiles = path.join(root, 'bench/results/profiles');
    if (options.cpuProf || options.heapSnapshot) mkdirSync(profiles, { recursive: true });
    const start = async (name, role) => {
      const started = await startPhos({
        databaseUrl: db.url,
        redisUrl,
        prefix,
        admin: adminCredentials,
        role,
        env: { PHOS_STREAMS_PER_SESSION: String(STREAMS_PER_SESSION) },
        // V8 writes a .cpuprofile when Phos exits (open it in Chrome DevTools or speedscope).
        nodeArgs: [
          ...(options.heapMib ? [`--max-old-space-size=${options.heapMib}`] : []),
          ...(options.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profiles}`] : []),
          // With --heap-snapshot, V8 writes a .heapsnapshot as the moves end (the process pauses meanwhile).
          ...(options.heapSnapshot ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${profiles}`] : []),
        ],
        readyTimeoutMs: 180_000,
      });
      phos.push(Object.assign(started, { name }));
    };
    if (options.split) {
      // All at once: Phos's start-up lock lets one of them migrate and create the Admin.
      await Promise.all([start('api-a', 'api'), start('api-b', 'api'), start('worker-1', 'worker'), start('worker-2', 'worker')]);
      phos.sort((a, b) => a.name.localeCompare(b.name));
      log(`Phos split: ${phos.map((p) => `${p.name} pid ${p.pid}`).join(', ')}`);
    } else {
      await start('phos', 'all');
    }
    const figures = await runScenario(options, {
      phos,
      databaseUrl: db.url,
      sql,
      runId,
      password,
      adminCredentials,
    });
    // The machine's own limit, in the same run: a bare Node server writing one block per event to
    // as many streams as there were dashboards (bench/fanout-floor.mjs).
    if (options.dashboards >= 10) {
      log(`the machine's own fan-out cost: ${options.dashboards} bare event streams…`);
      const floor = await measureFanoutFloor({ streams: options.dashboards, events: options.quick ? 50 : 200 });
      figures.phos.fanout_floor = floor;
      figures.phos.cpu_per_dashboard_over_floor = ratio(figures.phos.cpu_ms_per_event_per_dashboard, floor.cpu_ms_per_event_per_stream);
    }
    const table = goals(figures);
    const result = {
      when: new Date().toISOString(),
      run_id: runId,
      cpus: os.cpus().length,
      scenario: {
        patients: options.patients,
        dashboards: options.dashboards,
        rate: options.rate,
        seconds: options.seconds,
        quick: options.quick,
        split: options.split,
        processes: phos.map((p) => `${p.name} (${p.role})`),
      },
      ...figures,
      goals: table,
    };
    printReport(options, result, table);
    console.log(`result: ${saveResult(result, { bench: 'live', out: options.out })}`);
    const t = result.tracked;
    if (t.missed + t.duplicated + t.unexpected + t.out_of_order > 0 || result.moves.failed + result.moves.skipped > 0) {
      log('tracked events were missed, duplicated or reordered, or moves failed');
      exitCode = 1;
    }
  } catch (error) {
    exitCode = 1;
    log(error instanceof Error ? error.stack : error);
    for (const p of phos) log(`Phos ${p.name} printed:\n${p.output()}`);
  } finally {
    await cleanup();
  }
  process.exit(exitCode);
}

const roleIndex = process.argv.indexOf('--role');
const role = roleIndex === -1 ? undefined : process.argv[roleIndex + 1];
if (role === 'subscribers') await subscribersChild();
else if (role === 'source') await sourceChild();
else await main();
