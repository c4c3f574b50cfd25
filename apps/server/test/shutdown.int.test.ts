import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { TRPC_ERROR_CODES_BY_KEY, retryableRpcCodes } from '@trpc/server/unstable-core-do-not-import';
import pg from 'pg';
import pino from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startPhos } from '../src/app.js';
import { buildHttpServer } from '../src/http/server.js';
import { spreadReconnectDelayMs } from '../src/http/eventStreams.js';
import { outbox } from '../src/outbox/schema.js';
import { patients } from '../src/patients/schema.js';
import { killAllPhosProcesses, startPhosApi } from './processes.js';
import { serverSentEvents, type ServerSentEvent } from './sse.js';
import {
  callerFor,
  createStaff,
  deleteRedisKeys,
  eventually,
  freshDatabase,
  patientInput,
  startTestPhos,
  usesPostgres,
} from './support.js';
import { listening, signedIn, signInOverHttp } from './security/http-support.js';
import { appCodeOf, callerInSession, openStream, queueStream, sessionOf, timeToEnd } from './security/session-support.js';

/** The bound: SIGTERM to exit. */
const EXIT_WITHIN_MS = 10_000;

afterAll(killAllPhosProcesses);

function register(base: string, input: ReturnType<typeof patientInput>, requestId: string = randomUUID()) {
  return fetch(`${base}/trpc/auth.register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify(input),
  });
}

/**
 * A registration whose body is half sent until `rest` resolves: a request the server has started
 * on and cannot finish before then, however fast it answers.
 */
function registerSentInTwo(base: string, input: ReturnType<typeof patientInput>, requestId: string, rest: Promise<void>) {
  const json = new TextEncoder().encode(JSON.stringify(input));
  const half = Math.floor(json.length / 2);
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(json.subarray(0, half));
      await rest;
      controller.enqueue(json.subarray(half));
      controller.close();
    },
  });
  return fetch(`${base}/trpc/auth.register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body,
    duplex: 'half',
  });
}

interface QueueStream {
  events: AsyncGenerator<ServerSentEvent>;
  abort: () => void;
  /** The reconnection delay the server asked for, if it did. */
  retryMs: () => number | undefined;
}

/**
 * The queue's live view as a browser's EventSource opens it: `lastEventId` as the input on the
 * first connection, and as the Last-Event-ID header on a reconnection.
 */
async function openQueueStream(base: string, cookie: string, from: { input?: string; header?: string }): Promise<QueueStream> {
  const controller = new AbortController();
  const query = from.input ? `?input=${encodeURIComponent(JSON.stringify({ lastEventId: from.input }))}` : '';
  const response = await fetch(`${base}/trpc/queue.onChange${query}`, {
    headers: { cookie, accept: 'text/event-stream', ...(from.header ? { 'last-event-id': from.header } : {}) },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  let retryMs: number | undefined;
  const events = serverSentEvents(response.body!, (ms) => (retryMs = ms));
  expect((await events.next()).value).toMatchObject({ event: 'connected' });
  return { events, abort: () => controller.abort(), retryMs: () => retryMs };
}

interface Added {
  id: string;
  lastName: string;
}

/** Queue events (ids and the last names added) until `done` says enough; fails on anything else. */
async function readAdded(stream: QueueStream, done: (added: Added[]) => boolean): Promise<Added[]> {
  const added: Added[] = [];
  if (done(added)) return added;
  // Not `for await`: leaving that loop would close the stream.
  for (let next = await stream.events.next(); !next.done; next = await stream.events.next()) {
    const event = next.value;
    if (event.event === 'ping') continue;
    expect(event.event).toBe('message');
    const change = JSON.parse(event.data) as { type: string; entry?: { lastName: string } };
    if (change.type === 'queue.entry.added') added.push({ id: event.id!, lastName: change.entry!.lastName });
    if (done(added)) return added;
  }
  throw new Error(`the stream ended early, after ${JSON.stringify(added)}`);
}

const has =
  (...lastNames: string[]) =>
  (added: Added[]) =>
    lastNames.every((name) => added.some((entry) => entry.lastName === name));

/** The queue's head event id, to start a stream from. */
async function queueHead(base: string, cookie: string): Promise<string> {
  const listed = await fetch(`${base}/trpc/queue.list`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: '{}',
  });
  expect(listed.status).toBe(200);
  const body = (await listed.json()) as { result: { data: { lastEventId: string } } };
  return body.result.data.lastEventId;
}

/**
 * A client that will never finish its request: headers and half a body, then silence. Its
 * connection stays busy until the drain deadline cuts it.
 */
async function hangingRequest(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write(
    'POST /trpc/auth.login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{"email":',
  );
  return socket;
}

describe('SIGTERM to an api with open streams', () => {
  const redis = inject('redisTarget');
  const admin = { email: 'shutdown-admin@example.com', password: 'Quartz-Plover-Mangrove-81' };

  it('ends the streams with a retry hint, finishes the request in flight, exits 0 within 10 s; the client resumes on the next instance with no gap', async () => {
    const dirs: string[] = [];
    const dataDir = () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'phos-shutdown-'));
      dirs.push(dir);
      return dir;
    };
    const database = await freshDatabase();
    const prefix = `phos-test-${randomUUID()}`;
    // PostgreSQL: two instances on one database, one drained while the other runs. PGlite: one
    // data directory, so the second starts once the first has gone, as a restart would.
    const shared = usesPostgres && 'url' in redis;
    const pgliteDir = dataDir();
    const env = (): Record<string, string> => ({
      PHOS_DATA_DIR: shared ? dataDir() : pgliteDir,
      DATABASE_URL: 'url' in database.config ? database.config.url : '',
      REDIS_URL: 'url' in redis ? redis.url : '',
      PHOS_REDIS_PREFIX: prefix,
      PHOS_ADMIN_EMAIL: admin.email,
      PHOS_ADMIN_PASSWORD: admin.password,
      PHOS_ROLE: 'all',
    });
    const streams: QueueStream[] = [];
    try {
      const a = await startPhosApi(env());
      const b = shared ? await startPhosApi(env()) : undefined;
      const cookie = await signInOverHttp(a.url, admin);
      const from = await queueHead(a.url, cookie);
      const first = await openQueueStream(a.url, cookie, { input: from });
      streams.push(first);
      // How long its EventSource will wait to reconnect: spread, so a drain's clients do not arrive together.
      expect(first.retryMs()).toBeGreaterThanOrEqual(500);
      expect(first.retryMs()).toBeLessThan(2500);
      // An idle second stream, whose client reads nothing more.
      streams.push(await openQueueStream(a.url, cookie, {}));

      const p1 = patientInput({ lastName: 'Before' });
      expect((await register(a.url, p1)).status).toBe(200);
      const beforeShutdown = await readAdded(first, has('Before'));
      const lastTracked = beforeShutdown.at(-1)!.id;

      // A request the server has started on, and one that never finishes sending itself.
      const hanging = await hangingRequest(Number(new URL(a.url).port));
      const p2 = patientInput({ lastName: 'InFlight' });
      const requestId = randomUUID();
      let sendTheRest!: () => void;
      const inFlight = registerSentInTwo(a.url, p2, requestId, new Promise<void>((resolve) => (sendTheRest = resolve)));
      await a.printed(new RegExp(`"reqId":"${requestId}".*"msg":"incoming request"`));
      const sentAt = a.signal('SIGTERM');

      // The stream ends at once with SERVER_RESTARTING, a code tRPC's client retries, and
      // without tRPC's `return` event, which would stop the client for good.
      const ending: ServerSentEvent[] = [];
      for await (const event of first.events) if (event.event !== 'ping') ending.push(event);
      // The response ended: that is what makes an EventSource reconnect.
      const streamEndedMs = Date.now() - sentAt;
      expect(ending.map((event) => event.event)).toEqual(['serialized-error']);
      const error = JSON.parse(ending[0]!.data) as { code: number; data: { code: string; appCode: string } };
      expect(error.data).toMatchObject({ code: 'SERVICE_UNAVAILABLE', appCode: 'SERVER_RESTARTING' });
      expect(retryableRpcCodes).toContain(error.code);
      expect(error.code).toBe(TRPC_ERROR_CODES_BY_KEY.SERVICE_UNAVAILABLE);
      expect(streamEndedMs).toBeLessThan(3000);

      // The drain has begun (the streams ended): only now does the request in flight finish sending.
      sendTheRest();
      const answered = await inFlight;
      expect(answered.status).toBe(200);
      // …and tells its client not to send another request down that connection.
      expect(answered.headers.get('connection')).toBe('close');
      const { code, at } = await a.exited;
      expect(code).toBe(0);
      expect(at - sentAt).toBeLessThan(EXIT_WITHIN_MS);
      // The hanging client was cut at the drain deadline, not by the last-resort exit.
      expect(a.output()).toContain('requests still open at the drain deadline');
      hanging.destroy();
      // Nothing personal in what it printed on the way.
      expect(a.output()).not.toContain(p2.email);
      expect(a.output()).not.toContain(p2.password);

      // The next instance; a registration committed there while the client was away.
      const next = b ?? (await startPhosApi(env()));
      const p3 = patientInput({ lastName: 'WhileAway' });
      expect((await register(next.url, p3)).status).toBe(200);

      // The client reconnects, as EventSource does, with the last id it tracked.
      const resumed = await openQueueStream(next.url, cookie, { input: from, header: lastTracked });
      streams.push(resumed);
      const afterResume = await readAdded(resumed, has('InFlight', 'WhileAway'));

      // Exactly what one uninterrupted stream from the same start shows, in the same order.
      const whole = await openQueueStream(next.url, cookie, { input: from });
      streams.push(whole);
      const lastId = afterResume.at(-1)!.id;
      const uninterrupted = await readAdded(whole, (added) => added.at(-1)?.id === lastId);
      expect([...beforeShutdown, ...afterResume]).toEqual(uninterrupted);
      expect(uninterrupted.map((entry) => entry.lastName).sort()).toEqual(['Before', 'InFlight', 'WhileAway'].sort());

      for (const stream of streams) stream.abort();
      const stoppedAt = next.signal('SIGTERM');
      const stopped = await next.exited;
      expect(stopped.code).toBe(0);
      expect(stopped.at - stoppedAt).toBeLessThan(EXIT_WITHIN_MS);
    } finally {
      for (const stream of streams) stream.abort();
      killAllPhosProcesses();
      if (shared && 'url' in redis) await deleteRedisKeys(redis, prefix).catch(() => undefined);
      await database.drop();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('draining the stream registry', () => {
  it('ends every open stream with SERVER_RESTARTING at once, and refuses new ones the same way', async () => {
    const phos = await startTestPhos({ runs: 'api' });
    try {
      const provider = await createStaff(phos);
      const token = await sessionOf(phos, provider);
      const open = [await openStream(phos, token, queueStream), await openStream(phos, token, queueStream)];
      phos.services.streams.drain();
      for (const stream of open) {
        const { outcome, ms } = await timeToEnd(stream.ended);
        expect(appCodeOf(outcome)).toBe('SERVER_RESTARTING');
        expect(ms).toBeLessThan(1000);
      }
      expect(phos.services.streams.openCount()).toBe(0);
      const refused = await callerInSession(phos, token, { renew: false })
        .then(queueStream)
        .catch((error: unknown) => error);
      expect(appCodeOf(refused)).toBe('SERVER_RESTARTING');
    } finally {
      await phos.cleanup();
    }
  });
});

describe('a worker with a job still running at the shutdown deadline', () => {
  // A job held up in the database by another connection: PGlite has only one.
  it.runIf(usesPostgres)(
    'lets go of it at the deadline; another worker finishes it, once',
    async () => {
      const lines: string[] = [];
      const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
      const database = await freshDatabase();
      const url = 'url' in database.config ? database.config.url : '';
      const prefix = `phos-test-${randomUUID()}`;
      const redis = inject('redisTarget');
      const startWorker = (logger: typeof log) =>
        startPhos({ database: { url }, redis, prefix, runs: 'all', log: logger, relayIntervalMs: 200, hubSafetyIntervalMs: 500 });
      const first = await startWorker(log);
      let firstClosed: Promise<void> | undefined;
      const db = first.services.db;
      const locker = new pg.Client({ connectionString: url });
      await locker.connect();
      let second: Awaited<ReturnType<typeof startPhos>> | undefined;
      try {
        // Holds up every patient insert until it lets go.
        await locker.query('begin');
        await locker.query('lock table patients in exclusive mode');
        const { user } = await callerFor(first).auth.register(patientInput({ lastName: 'Unfinished' }));
        const [registration] = await db
          .select({ id: outbox.id })
          .from(outbox)
          .where(sql`${outbox.payload}->>'userId' = ${user.id}`);
        await eventually(async () => (await first.queue.getJobState(registration!.id)) === 'active');

        const startedAt = Date.now();
        const closing = (firstClosed = first.close({ jobsBy: startedAt + 1000 }));
        await eventually(() => Promise.resolve(lines.some((line) => line.includes('jobs still running at the shutdown deadline'))));
        expect(Date.now() - startedAt).toBeLessThan(3000);
        await locker.query('rollback');
        await closing;

        second = await startWorker(pino({ level: 'silent' }));
        const secondDb = second.services.db;
        await eventually(async () => (await second!.queue.getJobState(registration!.id)) === 'completed', 30_000);
        const rows = await secondDb
          .select()
          .from(patients)
          .where(sql`${patients.userId} = ${user.id}`);
        expect(rows).toHaveLength(1);
      } finally {
        await locker.end().catch(() => undefined);
        await second?.close();
        await (firstClosed ?? first.close());
        if ('url' in redis) await deleteRedisKeys(redis, prefix).catch(() => undefined);
        await database.drop();
      }
    },
    60_000,
  );
});

describe('the reconnection hint on event streams', () => {
  it('sends a retry delay first, and a stream whose client leaves still frees its slot', async () => {
    const phos = await startTestPhos({ runs: 'api' });
    const server = await buildHttpServer({
      phos,
      log: pino({ level: 'silent' }),
      reconnectDelayMs: () => spreadReconnectDelayMs(700, 800),
    });
    try {
      const { base } = await listening(server);
      const { cookie } = await signedIn(server, phos, 'Provider');
      const stream = await openQueueStream(base, cookie, {});
      expect(stream.retryMs()).toBeGreaterThanOrEqual(700);
      expect(stream.retryMs()).toBeLessThan(800);
      expect(phos.services.streams.openCount()).toBe(1);
      stream.abort();
      await eventually(() => Promise.resolve(phos.services.streams.openCount() === 0));
      // Other answers are left as they are.
      const me = await fetch(`${base}/trpc/auth.me`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(me.status).toBe(200);
      expect(await me.text()).not.toContain('retry:');
    } finally {
      await server.close();
      await phos.cleanup();
    }
    // A fresh database, its migrations and a sign-in: over 30 s once on a loaded host.
  }, 60_000);
});
