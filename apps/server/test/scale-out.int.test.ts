import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { activeStatuses, type QueueChange, type QueueEntry, type QueueStatus, type Visit } from '@phos/shared';
import { killAllPhosProcesses, sharedBackends, startPhosApi, startPhosWorker } from './processes.js';
import { signInOverHttp } from './security/http-support.js';
import { serverSentEvents, type ServerSentEvent } from './sse.js';
import { eventually, patientInput } from './support.js';

afterAll(killAllPhosProcesses);

/** Generous: four Phos processes, their tsx start-up and a test share two busy cores with others. */
const WAIT_MS = 120_000;

/** A tRPC call over HTTP as the web app makes it (queries as POST too); its data, or a thrown error. */
async function call<T>(base: string, procedure: string, input: unknown, cookie?: string): Promise<T> {
  const response = await fetch(`${base}/trpc/${procedure}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: JSON.stringify(input ?? {}),
  });
  const body = (await response.json()) as { result?: { data: T }; error?: unknown };
  if (response.status !== 200 || !body.result) throw new Error(`${procedure} answered ${response.status}: ${JSON.stringify(body.error)}`);
  return body.result.data;
}

/** The session cookie `auth.register` set: the patient is signed in, as in the browser. */
async function register(base: string, input: ReturnType<typeof patientInput>): Promise<string> {
  const response = await fetch(`${base}/trpc/auth.register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
  expect(response.status).toBe(200);
  const cookie = response.headers
    .getSetCookie()
    .map((header) => header.split(';')[0] ?? '')
    .find((pair) => pair.startsWith('phos_session='));
  if (!cookie) throw new Error('registration set no session cookie');
  return cookie;
}

interface Stream {
  /** Every message event so far, in order (pings and the opening `connected` left out). */
  messages: ServerSentEvent[];
  /** Anything else that arrived: an error event, or the stream ending. */
  problems: string[];
  close: () => void;
}

/** A subscription over HTTP, as EventSource opens it, read in the background. */
async function openStream(base: string, procedure: string, cookie: string, input?: unknown): Promise<Stream> {
  const controller = new AbortController();
  const query = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
  const response = await fetch(`${base}/trpc/${procedure}${query}`, {
    headers: { cookie, accept: 'text/event-stream' },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const events = serverSentEvents(response.body!);
  expect((await events.next()).value).toMatchObject({ event: 'connected' });
  const stream: Stream = { messages: [], problems: [], close: () => controller.abort() };
  void (async () => {
    try {
      for await (const event of events) {
        if (event.event === 'message') stream.messages.push(event);
        else if (event.event !== 'ping') stream.problems.push(`${event.event}: ${event.data.slice(0, 300)}`);
      }
      if (!controller.signal.aborted) stream.problems.push('the server ended the stream');
    } catch (error) {
      if (!controller.signal.aborted) stream.problems.push(`read failed: ${String(error)}`);
    }
  })();
  return stream;
}

/** What the event log holds about the queue after `from`, in order: the ground truth. */
async function queueEventsInLog(url: string, from: string): Promise<{ id: string; type: string; entryId: string; version: number }[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string; type: string; entry_id: string; version: number }>(
      `select id::text, type, payload->'entry'->>'id' as entry_id, (payload->'entry'->>'version')::int as version
         from event_log where id > $1 and type in ('queue.entry.added', 'queue.entry.updated') order by event_log.id`,
      [from],
    );
    return rows.map((row) => ({ id: row.id, type: row.type, entryId: row.entry_id, version: row.version }));
  } finally {
    await client.end();
  }
}

describe('scale-out: two apis and two workers on one PostgreSQL and one Redis (issue 9)', () => {
  it(
    'a clinician on api A sees every queue change made through api B once, in event-log order, and ends with what queue.list answers; a patient on A sees the stage change made through B',
    { timeout: 420_000 },
    async (context) => {
      const admin = { email: 'scale-out-admin@example.com', password: 'Quartz-Plover-Mangrove-81' };
      const backends = await sharedBackends(context, {
        PHOS_ADMIN_EMAIL: admin.email,
        PHOS_ADMIN_PASSWORD: admin.password,
        PHOS_REGISTER_MAX_PER_ADDRESS: '1000',
      });
      const { databaseUrl, env } = backends;
      const streams: Stream[] = [];
      try {
        // All at once, as a deploy starts them: Phos's start-up lock lets one migrate and create the Admin.
        const [a, b] = await Promise.all([
          startPhosApi(env('api'), { startTimeoutMs: WAIT_MS }),
          startPhosApi(env('api'), { startTimeoutMs: WAIT_MS }),
          startPhosWorker(env('worker'), { startTimeoutMs: WAIT_MS }),
          startPhosWorker(env('worker'), { startTimeoutMs: WAIT_MS }),
        ]);

        const adminCookie = await signInOverHttp(b.url, admin);
        const clinician = { email: `clinician-${randomUUID().slice(0, 8)}@example.com`, password: 'Heron-Lantern-Basalt-47' };
        await call(b.url, 'admin.createUser', { ...clinician, role: 'Provider', firstName: 'Clara', lastName: 'Clinician' }, adminCookie);
        const room = await call<{ id: string; name: string }>(b.url, 'admin.createRoom', { name: 'Room 7' }, adminCookie);
        // The same clinician signed in at both: one watches on A, the other acts through B.
        const onA = await signInOverHttp(a.url, clinician);
        const onB = await signInOverHttp(b.url, clinician);

        const { lastEventId: from } = await call<{ lastEventId: string }>(a.url, 'queue.list', undefined, onA);
        const board = await openStream(a.url, 'queue.onChange', onA, { lastEventId: from });
        streams.push(board);
        const changes = () => board.messages.map((message) => ({ id: message.id!, change: JSON.parse(message.data) as QueueChange }));

        // Through B: a patient registers themselves, and the front desk registers walk-ins; the workers queue them.
        const patient = patientInput({ lastName: 'Selfreg' });
        const patientCookie = await register(b.url, patient);
        const walkIns = Array.from({ length: 6 }, (_, i) => ({
          firstName: 'Walk',
          lastName: `Inn${i}`,
          dateOfBirth: `19${60 + i}-03-0${i + 1}`,
        }));
        await Promise.all(walkIns.map((walkIn) => call(b.url, 'patients.registerWalkIn', walkIn, onB)));
        const names = [patient.lastName, ...walkIns.map((walkIn) => walkIn.lastName)];
        await eventually(
          () =>
            Promise.resolve(
              names.every((name) => changes().some(({ change }) => change.type === 'queue.entry.added' && change.entry.lastName === name)),
            ),
          WAIT_MS,
        );
        const entryOf = (lastName: string) =>
          changes().find(({ change }) => change.type === 'queue.entry.added' && change.entry.lastName === lastName)!.change.entry;

        // The patient watches their visit on A.
        const visit = await openStream(a.url, 'visit.onMine', patientCookie);
        streams.push(visit);
        const stages = () => visit.messages.map((message) => (JSON.parse(message.data) as Visit).stage);
        await eventually(() => Promise.resolve(stages().includes('waiting')), WAIT_MS);

        // Queue moves through B, each entry's in turn, the entries at once: called in, triaged, seen in a room, done.
        type Move = { procedure: string; input: Record<string, unknown> };
        const callIn: Move = { procedure: 'queue.transition', input: { to: 'in_triage' } };
        const triage: Move = { procedure: 'queue.triage', input: { acuity: 2 } };
        const seen: Move = { procedure: 'queue.transition', input: { to: 'with_clinician', roomId: room.id } };
        const done: Move = { procedure: 'queue.transition', input: { to: 'done' } };
        const moveThroughB = async (entry: { id: string; version: number }, moves: Move[]) => {
          let { id, version } = entry;
          for (const move of moves) {
            const answer = await call<{ entry: QueueEntry }>(
              b.url,
              move.procedure,
              { entryId: id, expectedVersion: version, ...move.input },
              onB,
            );
            ({ id, version } = answer.entry);
          }
          return { id, version };
        };
        // The patient is called in first, and their view on A follows (a visit shows the latest stage, so
        // moves in quick succession may skip one): then the rest, every entry at once.
        const called = await moveThroughB(entryOf(patient.lastName), [callIn]);
        await eventually(() => Promise.resolve(stages().includes('in_triage')), WAIT_MS);
        const plans: [string, Move[]][] = [
          ['Inn0', [callIn, triage, seen, done]],
          ['Inn1', [callIn, triage, seen, done]],
          ['Inn2', [callIn, triage, seen]],
          ['Inn3', [callIn, triage]],
          ['Inn4', [callIn]],
          // Inn5 stays waiting.
        ];
        await Promise.all([
          moveThroughB(called, [triage, seen]),
          ...plans.map(([lastName, moves]) => moveThroughB(entryOf(lastName), moves)),
        ]);

        // Every queue event the log holds reaches A's stream: once each, in the log's order, with the same entry versions.
        const logged = await queueEventsInLog(databaseUrl, from);
        expect(logged).toHaveLength(names.length + 3 + plans.reduce((sum, [, moves]) => sum + moves.length, 0));
        await eventually(() => Promise.resolve(board.messages.length >= logged.length), WAIT_MS);
        // A moment for anything extra (a duplicate) to arrive as well.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        expect(board.problems).toEqual([]);
        expect(
          changes().map(({ id, change }) => ({ id, type: change.type, entryId: change.entry.id, version: change.entry.version })),
        ).toEqual(logged);

        // A's stream folded into a queue is exactly what A lists now.
        const folded = new Map<string, QueueEntry>();
        for (const { change } of changes()) folded.set(change.entry.id, change.entry);
        const active = new Set<QueueStatus>(activeStatuses);
        const listed = await call<{ entries: QueueEntry[]; lastEventId: string }>(a.url, 'queue.list', undefined, onA);
        expect(BigInt(listed.lastEventId)).toBeGreaterThanOrEqual(BigInt(logged.at(-1)!.id));
        const byId = (x: QueueEntry, y: QueueEntry) => x.id.localeCompare(y.id);
        expect([...folded.values()].filter((entry) => active.has(entry.status)).sort(byId)).toEqual([...listed.entries].sort(byId));
        expect(listed.entries.map((entry) => entry.lastName).sort()).toEqual([patient.lastName, 'Inn2', 'Inn3', 'Inn4', 'Inn5'].sort());

        // The patient on A saw each stage B moved them to, in order, ending in the room.
        await eventually(() => Promise.resolve(stages().includes('with_clinician')), WAIT_MS);
        expect(visit.problems).toEqual([]);
        const distinct = stages().filter((stage, i, all) => i === 0 || all[i - 1] !== stage);
        expect(distinct.slice(distinct.indexOf('waiting'))).toEqual(['waiting', 'in_triage', 'with_clinician']);
        const last = JSON.parse(visit.messages.at(-1)!.data) as Visit;
        expect(last).toMatchObject({ stage: 'with_clinician', roomName: room.name });
        expect(last.clinicianName).toContain('Clinician');
      } finally {
        for (const stream of streams) stream.close();
        await backends.cleanup();
      }
    },
  );
});
