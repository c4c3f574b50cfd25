// Dashboard benchmark: a queue of N entries (walk-ins over HTTP), then `queue.list`'s size on the
// wire with br, gzip and no compression, and how soon the MD dashboard shows its first row in
// headless Chromium (measured in the page, from navigation start). See bench/README.md.
//
//   node bench/dashboard.mjs [--quick] [--entries 5000] [--runs 5] [--profile] [--out file.json]
// pageProbe and the page.evaluate callbacks run in Chromium, not in Node.
/* global window, document, requestAnimationFrame, MutationObserver */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import zlib from 'node:zlib';
import {
  assertLoopback,
  atMost,
  formatGoals,
  inBatches,
  openBenchRun,
  root,
  saveResult,
  startPhos,
  summary,
  trpc,
  waitFor,
} from './lib.mjs';

const log = (...args) => console.error('[bench:dashboard]', ...args);

/** Issue 9's budgets for this scenario. */
const GOAL_WIRE_BYTES = 350 * 1024;
const GOAL_FIRST_ROW_MS = 300;
const ROW_SELECTOR = 'table[aria-label="Patient queue"] tbody tr[aria-rowindex="2"]';
const VIEWPORT = { width: 1280, height: 800 };

function parseArgs(argv) {
  const quick = argv.includes('--quick');
  const options = { entries: quick ? 1000 : 5000, runs: quick ? 3 : 5, quick, profile: argv.includes('--profile'), out: undefined };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (name === 'entries' || name === 'runs') {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} needs a positive whole number`);
      options[name] = value;
    } else if (name === 'out') options.out = path.resolve(argv[++i]);
    else if (name !== 'quick' && name !== 'profile') throw new Error(`unknown argument ${argv[i]}`);
  }
  return options;
}

/** Count, median and max of the numbers among `values`: a handful of navigations has no p95. */
function medianAndMax(values) {
  const { n, p50, max } = summary(values);
  return { n, p50, max };
}

/** `queue.list` as raw bytes: what crossed the socket for the body, undecoded, and how long it took. */
function rawQueueList(base, cookie, acceptEncoding) {
  return new Promise((resolve, reject) => {
    const body = '{}';
    const t0 = performance.now();
    let firstByte = null;
    const request = http.request(
      `${base}/trpc/queue.list`,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          cookie,
          ...(acceptEncoding ? { 'accept-encoding': acceptEncoding } : {}),
        },
      },
      (response) => {
        let bytes = 0;
        const chunks = [];
        response.on('data', (chunk) => {
          firstByte ??= performance.now() - t0;
          bytes += chunk.length;
          chunks.push(chunk);
        });
        response.on('end', () => {
          if (response.statusCode !== 200) {
            reject(new Error(`queue.list answered ${response.statusCode}`));
            return;
          }
          const rawHeaders = response.rawHeaders;
          let headerBytes = `HTTP/1.1 ${response.statusCode} ${response.statusMessage}\r\n`.length + 2;
          for (let i = 0; i < rawHeaders.length; i += 2) headerBytes += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`.length;
          resolve({
            accept_encoding: acceptEncoding ?? '(none)',
            content_encoding: response.headers['content-encoding'] ?? 'identity',
            body_bytes: bytes,
            header_bytes: headerBytes,
            ttfb_ms: Number((firstByte ?? 0).toFixed(1)),
            total_ms: Number((performance.now() - t0).toFixed(1)),
            body: Buffer.concat(chunks),
          });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * What compressing the uncompressed list costs in CPU here, per setting: @fastify/compress's
 * defaults are gzip level 6 (zlib's) and brotli quality 4 in text mode.
 */
function compressionCost(body) {
  const settings = [
    ['gzip 6 (default)', () => zlib.gzipSync(body, { level: 6 })],
    ['gzip 1', () => zlib.gzipSync(body, { level: 1 })],
    ['br 4 text (default)', () => brotli(4)],
    ['br 1 text', () => brotli(1)],
  ];
  function brotli(quality) {
    return zlib.brotliCompressSync(body, {
      params: { [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT, [zlib.constants.BROTLI_PARAM_QUALITY]: quality },
    });
  }
  return settings.map(([name, compress]) => {
    const times = [];
    let bytes = 0;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      bytes = compress().length;
      times.push(performance.now() - t0);
    }
    return { setting: name, bytes, ms_median_of_3: Number(times.sort((a, b) => a - b)[1].toFixed(1)) };
  });
}

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs);
  }
  return latest;
}

/** Builds apps/web (its npm build script) when its dist is missing or older than its sources, as `npm start` does. */
function ensureWebBuild() {
  const web = path.join(root, 'apps/web');
  const index = path.join(web, 'dist/index.html');
  const sources = Math.max(
    newest(path.join(web, 'src')),
    newest(path.join(root, 'packages/shared/src')),
    ...['index.html', 'vite.config.ts', 'package.json'].map((f) =>
      existsSync(path.join(web, f)) ? statSync(path.join(web, f)).mtimeMs : 0,
    ),
  );
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return false;
  log('building the web app…');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['run', 'build', '--workspace', '@phos/web'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) throw new Error('the web build failed');
  return true;
}

const FIRST_NAMES = ['Ada', 'Ben', 'Chloe', 'Dev', 'Elif', 'Farah', 'Gus', 'Hana', 'Ivo', 'Jana', 'Kofi', 'Lena', 'Mateo', 'Nia', 'Omar'];
const LAST_NAMES = ['Abbott', 'Baptiste', 'Castillo', 'Dubois', 'Eriksen', 'Fischer', 'Gallagher', 'Haddad', 'Ivanova', 'Jansen'];

/** A made-up walk-in: first, last name and date of birth together are unique within the run, so none is flagged a duplicate. */
function walkIn(i, runId) {
  const day = new Date(Date.UTC(1940, 0, 1) + i * 86_400_000 * 3);
  return {
    firstName: FIRST_NAMES[i % FIRST_NAMES.length],
    lastName: `${LAST_NAMES[Math.floor(i / FIRST_NAMES.length) % LAST_NAMES.length]}-${runId}`,
    dateOfBirth: day.toISOString().slice(0, 10),
  };
}

/** Walk-ins over HTTP by the Provider, a few in flight, then waits until `queue.list` holds all of them. */
async function seed(base, cookie, count, runId) {
  const t0 = Date.now();
  await inBatches(Array.from({ length: count }), 8, async (_, i) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await trpc(base, 'patients.registerWalkIn', walkIn(i, runId), cookie);
      } catch (error) {
        if (attempt >= 5 || ![429, 503].includes(error.status)) throw error;
        await delay(500 * attempt);
      }
    }
  });
  const sent = Date.now();
  let queued = 0;
  await waitFor(
    `${count} queue entries`,
    async () => {
      queued = (await trpc(base, 'queue.list', undefined, cookie)).data.entries.length;
      return queued >= count;
    },
    120_000 + count * 50,
    { everyMs: 1000 },
  );
  return { sent_s: (sent - t0) / 1000, queued_s: (Date.now() - t0) / 1000 };
}

/**
 * Runs in the page before its own scripts: marks (ms since navigation start) when the first row
 * enters the DOM, the next frame after it, the count line and the Live indicator, and records
 * long tasks, so the figures come from the page's own clock.
 */
function pageProbe({ rowSelector }) {
  const bench = { marks: {}, longTasks: [], lcp: null };
  window.__bench = bench;
  const mark = (name) => {
    bench.marks[name] ??= performance.now();
  };
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) bench.longTasks.push([entry.startTime, entry.duration]);
    }).observe({ type: 'longtask', buffered: true });
    new PerformanceObserver((list) => {
      const entries = list.getEntries();
      bench.lcp = entries[entries.length - 1]?.startTime ?? bench.lcp;
    }).observe({ type: 'largest-contentful-paint', buffered: true });
  } catch {
    // entry types this browser lacks
  }
  const check = () => {
    if (bench.marks.first_row_dom === undefined) {
      const row = document.querySelector(rowSelector);
      if (row) {
        mark('first_row_dom');
        const box = row.getBoundingClientRect();
        bench.firstRowInViewport = box.top < window.innerHeight && box.bottom > 0;
        // The frame that shows the row: the task after its requestAnimationFrame runs once it is painted.
        requestAnimationFrame(() => {
          mark('first_row_frame');
          const channel = new MessageChannel();
          channel.port1.onmessage = () => mark('first_row_painted');
          channel.port2.postMessage(null);
        });
      }
    }
    if (bench.marks.count_line === undefined && /\d[\d,]* patients in the queue/.test(document.body?.textContent ?? '')) {
      mark('count_line');
      bench.rowsRendered = document.querySelectorAll('table[aria-label="Patient queue"] tbody tr[aria-rowindex]').length;
    }
    if (bench.marks.live === undefined) {
      const status = document.querySelector('[role="status"][aria-label="Live updates"]');
      if (status?.textContent?.trim() === 'Live') mark('live');
    }
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true, characterData: true });
}

/** What the page measured for one navigation, plus the browser's own resource timing of `queue.list` and the JS heap. */
async function measureNavigation(context, base, entries, { profile = false } = {}) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  if (profile) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
  }
  try {
    await page.goto(`${base}/dashboard`, { waitUntil: 'commit' });
    await page.waitForSelector(ROW_SELECTOR, { state: 'visible', timeout: 60_000 });
    await page.waitForFunction(
      () => window.__bench?.marks.live !== undefined && window.__bench.marks.first_row_painted !== undefined,
      null,
      {
        timeout: 60_000,
      },
    );
    // Quiet: no long task for 500 ms (the usual time-to-interactive rule), measured in the page.
    await page.waitForFunction(
      () => {
        const tasks = window.__bench.longTasks;
        const lastEnd = tasks.length ? Math.max(...tasks.map(([start, duration]) => start + duration)) : 0;
        return performance.now() - lastEnd >= 500;
      },
      null,
      { timeout: 60_000, polling: 100 },
    );
    const inPage = await page.evaluate(() => {
      const b = window.__bench;
      const nav = performance.getEntriesByType('navigation')[0];
      const list = performance.getEntriesByType('resource').find((r) => r.name.includes('queue.list'));
      const me = performance.getEntriesByType('resource').find((r) => r.name.includes('auth.me'));
      const scripts = performance.getEntriesByType('resource').filter((r) => r.initiatorType === 'script');
      const firstRow = b.marks.first_row_dom ?? 0;
      const lastTaskEnd = Math.max(0, ...b.longTasks.map(([start, duration]) => start + duration));
      const round = (v) => (typeof v === 'number' ? Number(v.toFixed(1)) : null);
      return {
        marks: Object.fromEntries(Object.entries(b.marks).map(([k, v]) => [k, round(v)])),
        first_row_in_viewport: b.firstRowInViewport ?? null,
        rows_rendered: b.rowsRendered ?? null,
        lcp_ms: round(b.lcp),
        dom_content_loaded_ms: round(nav?.domContentLoadedEventEnd),
        scripts_loaded_ms: round(Math.max(0, ...scripts.map((s) => s.responseEnd))),
        long_tasks_before_first_row_ms: round(b.longTasks.filter(([start]) => start < firstRow).reduce((sum, [, d]) => sum + d, 0)),
        long_tasks: b.longTasks.map(([start, duration]) => [round(start), round(duration)]),
        interactive_ms: round(Math.max(b.marks.live ?? 0, b.marks.first_row_painted ?? 0, lastTaskEnd)),
        // The waterfall: what was fetched, from when to when, and how many bytes crossed the wire.
        resources: performance
          .getEntriesByType('resource')
          .map((r) => [new URL(r.name).pathname.replace(/^\/assets\//, ''), round(r.startTime), round(r.responseEnd), r.transferSize]),
        queue_list: list
          ? {
              request_start_ms: round(list.requestStart || list.startTime),
              // How long after the app knew who the user is it asked for the queue.
              after_auth_me_ms: me ? round(list.startTime - me.responseEnd) : null,
              response_start_ms: round(list.responseStart),
              response_end_ms: round(list.responseEnd),
              transfer_bytes: list.transferSize,
              encoded_body_bytes: list.encodedBodySize,
              decoded_body_bytes: list.decodedBodySize,
            }
          : null,
      };
    });
    const cpuProfile = profile ? (await cdp.send('Profiler.stop')).profile : undefined;
    const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    // Scrolling to the end: the virtualised table renders the last row on demand.
    const scroll = await page.evaluate(
      ({ last }) =>
        new Promise((resolve) => {
          const scroller = document.querySelector('.queue-scroll');
          const t0 = performance.now();
          const selector = `table[aria-label="Patient queue"] tbody tr[aria-rowindex="${last}"]`;
          const done = () => resolve(Number((performance.now() - t0).toFixed(1)));
          const observer = new MutationObserver(() => {
            if (document.querySelector(selector)) {
              observer.disconnect();
              requestAnimationFrame(done);
            }
          });
          observer.observe(document.body, { childList: true, subtree: true });
          if (!scroller) resolve(null);
          else scroller.scrollTop = scroller.scrollHeight;
        }),
      { last: entries + 1 },
    );
    return {
      ...inPage,
      scroll_to_last_row_ms: scroll,
      js_heap_used_mib: Number((metrics.JSHeapUsedSize / 2 ** 20).toFixed(1)),
      dom_nodes: metrics.Nodes,
      script_ms: Number((metrics.ScriptDuration * 1000).toFixed(1)),
      layout_ms: Number((metrics.LayoutDuration * 1000).toFixed(1)),
      style_ms: Number((metrics.RecalcStyleDuration * 1000).toFixed(1)),
      ...(cpuProfile ? { cpu_profile: cpuProfile } : {}),
    };
  } finally {
    await page.close();
  }
}

/**
 * In-app navigation: from the account page, a click on the header's home link to the dashboard's
 * first row, the queue not yet loaded (the app's code is, as it is for a clinician moving around).
 */
async function measureInAppNavigation(context, base) {
  const page = await context.newPage();
  try {
    await page.goto(`${base}/account`);
    await page.getByTestId('signed-in-user').waitFor();
    await page.getByRole('heading', { level: 1 }).first().waitFor();
    await page.evaluate(() => {
      window.__bench.marks = {};
      window.__bench.spaStart = performance.now();
      document.querySelector('header a[href="/dashboard"]').click();
    });
    await page.waitForSelector(ROW_SELECTOR, { state: 'visible', timeout: 60_000 });
    await page.waitForFunction(() => window.__bench.marks.first_row_painted !== undefined, null, { timeout: 60_000 });
    return await page.evaluate(() => {
      const { marks, spaStart } = window.__bench;
      return Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, Number((v - spaStart).toFixed(1))]));
    });
  } finally {
    await page.close();
  }
}

/** Self time of a V8 CPU profile by script and by function: where the main thread's time went. */
function profileSummary(profile, count = 12) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byScript = new Map();
  const byFunction = new Map();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame;
    const script = url ? new URL(url).pathname.replace(/^\/assets\//, '') : functionName || '(anonymous)';
    byScript.set(script, (byScript.get(script) ?? 0) + us);
    const fn = `${functionName || '(anonymous)'} ${script}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  }
  const top = (map) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, us]) => ({ name, self_ms: Number((us / 1000).toFixed(1)) }));
  return { by_script: top(byScript), by_function: top(byFunction) };
}

async function measureBrowser(base, cookie, entries, runs, profile) {
  const require = createRequire(path.join(root, 'e2e/package.json'));
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  try {
    const context = await browser.newContext({ viewport: VIEWPORT });
    // The session cookie from an API sign-in: what the sign-in form would have left in the jar.
    const [name, value] = [cookie.slice(0, cookie.indexOf('=')), cookie.slice(cookie.indexOf('=') + 1)];
    await context.addCookies([{ name, value, url: base, httpOnly: true, sameSite: 'Lax' }]);
    await context.addInitScript(pageProbe, { rowSelector: ROW_SELECTOR });
    // The first navigation fills the HTTP cache with the app's scripts: reported apart, as the cold load.
    const cold = await measureNavigation(context, base, entries);
    const warm = [];
    for (let i = 0; i < runs; i++) warm.push(await measureNavigation(context, base, entries));
    const inApp = [];
    for (let i = 0; i < runs; i++) inApp.push(await measureInAppNavigation(context, base));
    if (!profile) return { cold, warm, in_app: inApp };
    // One more warm navigation under the sampling profiler (it slows the page, so it is not counted above).
    const { cpu_profile: cpuProfile, ...profiled } = await measureNavigation(context, base, entries, { profile: true });
    const dir = path.join(root, 'bench/results/profiles');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `dashboard-${Date.now()}.cpuprofile`);
    writeFileSync(file, JSON.stringify(cpuProfile));
    return { cold, warm, in_app: inApp, profiled: { ...profiled, file, ...profileSummary(cpuProfile) } };
  } finally {
    await browser.close();
  }
}

function goals(result) {
  const kb = (bytes) => Number((bytes / 1024).toFixed(1));
  const wire = Object.fromEntries(result.wire.map((w) => [w.content_encoding, w]));
  const warm = result.browser.summary;
  return [
    atMost('queue.list br body', wire.br ? kb(wire.br.body_bytes) : null, GOAL_WIRE_BYTES / 1024, ' KB'),
    atMost('queue.list gzip body', wire.gzip ? kb(wire.gzip.body_bytes) : null, GOAL_WIRE_BYTES / 1024, ' KB'),
    { name: 'queue.list uncompressed body', value: wire.identity ? kb(wire.identity.body_bytes) : null, goal: '-', met: null },
    atMost('first row painted p50', warm.first_row_painted_ms.p50, GOAL_FIRST_ROW_MS, ' ms'),
    atMost('first row painted max', warm.first_row_painted_ms.max, GOAL_FIRST_ROW_MS, ' ms'),
    atMost('first row painted, in-app navigation p50', warm.in_app_first_row_painted_ms.p50, GOAL_FIRST_ROW_MS, ' ms'),
    atMost('first row painted, cold cache', result.browser.cold.marks.first_row_painted ?? null, GOAL_FIRST_ROW_MS, ' ms'),
  ];
}

function printReport(result, table) {
  const s = result.browser.summary;
  const fmt = (x) => `${x.p50 ?? '-'} / ${x.max ?? '-'}`;
  const lines = [
    `dashboard: ${result.scenario.entries} queue entries (seeded in ${result.seed.queued_s.toFixed(1)} s), ${result.scenario.runs} warm navigations`,
    ...result.wire.map(
      (w) =>
        `  queue.list accept-encoding ${w.accept_encoding.padEnd(6)} → ${w.content_encoding.padEnd(8)} ${String(w.body_bytes).padStart(9)} B body + ${w.header_bytes} B headers, ttfb ${w.ttfb_ms} ms, total ${w.total_ms} ms`,
    ),
    `  compressing the ${result.wire.at(-1).body_bytes} B list here: ${result.compression_cost.map((c) => `${c.setting} ${c.bytes} B in ${c.ms_median_of_3} ms`).join('; ')}`,
    `  in the page, p50 / max ms since navigation start (warm):`,
    `    scripts loaded ${fmt(s.scripts_loaded_ms)}; queue.list sent ${fmt(s.queue_list_request_ms)} (${fmt(s.queue_list_after_auth_me_ms)} after auth.me answered), first byte ${fmt(s.queue_list_response_start_ms)}, last byte ${fmt(s.queue_list_response_end_ms)}`,
    `    first row in DOM ${fmt(s.first_row_dom_ms)}; painted ${fmt(s.first_row_painted_ms)}; Live ${fmt(s.live_ms)}; interactive (no long task for 500 ms) ${fmt(s.interactive_ms)}`,
    `    long tasks before the first row ${fmt(s.long_tasks_before_first_row_ms)}; rows rendered ${result.browser.warm[0]?.rows_rendered ?? '-'}; scroll to the last row ${fmt(s.scroll_to_last_row_ms)}`,
    `    JS heap ${fmt(s.js_heap_used_mib)} MiB; DOM nodes ${fmt(s.dom_nodes)}; in the browser: queue.list ${result.browser.warm[0]?.queue_list?.encoded_body_bytes ?? '-'} B encoded, ${result.browser.warm[0]?.queue_list?.decoded_body_bytes ?? '-'} B decoded`,
    ...(result.browser.profiled
      ? [
          `  profiled navigation (first row painted ${result.browser.profiled.marks.first_row_painted} ms), self time by script: ${result.browser.profiled.by_script
            .slice(0, 6)
            .map((x) => `${x.name} ${x.self_ms}`)
            .join(', ')}`,
          ...result.browser.profiled.by_function.slice(0, 8).map((x) => `    ${String(x.self_ms).padStart(7)} ms  ${x.name.slice(0, 110)}`),
          `    profile: ${result.browser.profiled.file}`,
        ]
      : []),
    `  in-app navigation (account page → dashboard link, queue not loaded yet): first row painted ${fmt(s.in_app_first_row_painted_ms)} ms`,
    `  cold cache: first row painted ${result.browser.cold.marks.first_row_painted ?? '-'} ms, scripts loaded ${result.browser.cold.scripts_loaded_ms} ms`,
    '',
    ...formatGoals(table, { nameWidth: 40, goalWidth: 12 }),
  ];
  console.log(lines.join('\n'));
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const pgUrl = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  // Before the build, not after it: a wrong URL should not cost a build.
  assertLoopback(redisUrl, pgUrl);
  const built = ensureWebBuild();

  let phos;
  const { runId, prefix, db, cleanup } = await openBenchRun({
    pgUrl,
    redisUrl,
    log,
    beforeCleanup: () => phos?.stop().catch(() => undefined),
  });

  let exitCode = 0;
  try {
    const password = `bench-${randomBytes(12).toString('hex')}`;
    const admin = { email: `admin-${runId}@bench.test`, password };
    phos = await startPhos({ databaseUrl: db.url, redisUrl, prefix, admin, env: { PHOS_WEB_DIR: path.join(root, 'apps/web/dist') } });
    const { base } = phos;
    const { cookie: adminCookie } = await trpc(base, 'auth.login', admin);
    const provider = { email: `provider-${runId}@bench.test`, password };
    await trpc(base, 'admin.createUser', { ...provider, role: 'Provider', firstName: 'Bench', lastName: 'Provider' }, adminCookie);
    const { cookie } = await trpc(base, 'auth.login', provider);

    log(`registering ${options.entries} walk-ins…`);
    const seeded = await seed(base, cookie, options.entries, runId);
    log(`${options.entries} entries queued in ${seeded.queued_s.toFixed(1)} s`);

    const wire = [];
    for (const encoding of ['br', 'gzip', undefined]) wire.push(await rawQueueList(base, cookie, encoding));
    const compression = compressionCost(wire.at(-1).body);
    for (const w of wire) delete w.body;

    log(`measuring the dashboard in Chromium (1 cold + ${options.runs} warm navigations)…`);
    const browser = await measureBrowser(base, cookie, options.entries, options.runs, options.profile);
    const pick = (fn) => medianAndMax(browser.warm.map(fn));
    browser.summary = {
      scripts_loaded_ms: pick((r) => r.scripts_loaded_ms),
      queue_list_request_ms: pick((r) => r.queue_list?.request_start_ms),
      queue_list_after_auth_me_ms: pick((r) => r.queue_list?.after_auth_me_ms),
      queue_list_response_start_ms: pick((r) => r.queue_list?.response_start_ms),
      queue_list_response_end_ms: pick((r) => r.queue_list?.response_end_ms),
      first_row_dom_ms: pick((r) => r.marks.first_row_dom),
      first_row_painted_ms: pick((r) => r.marks.first_row_painted),
      count_line_ms: pick((r) => r.marks.count_line),
      live_ms: pick((r) => r.marks.live),
      interactive_ms: pick((r) => r.interactive_ms),
      long_tasks_before_first_row_ms: pick((r) => r.long_tasks_before_first_row_ms),
      scroll_to_last_row_ms: pick((r) => r.scroll_to_last_row_ms),
      js_heap_used_mib: pick((r) => r.js_heap_used_mib),
      dom_nodes: pick((r) => r.dom_nodes),
      in_app_first_row_painted_ms: medianAndMax(browser.in_app.map((r) => r.first_row_painted)),
    };
    const result = {
      when: new Date().toISOString(),
      run_id: runId,
      cpus: os.cpus().length,
      scenario: { entries: options.entries, runs: options.runs, quick: options.quick, viewport: VIEWPORT, web_rebuilt: built },
      seed: seeded,
      wire,
      compression_cost: compression,
      browser,
    };
    result.goals = goals(result);
    printReport(result, result.goals);
    console.log(`result: ${saveResult(result, { bench: 'dashboard', out: options.out })}`);
  } catch (error) {
    exitCode = 1;
    log(error instanceof Error ? error.stack : error);
    if (phos) log(`Phos stderr:\n${phos.stderr()}`);
  } finally {
    await cleanup();
  }
  process.exit(exitCode);
}

await main();
