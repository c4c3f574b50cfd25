/**
 * The fault suite's clients, over HTTP as the browser's are: registrants who retry as a person
 * would (the same details again, on whichever api answers), and clinicians' live queue views that
 * reconnect with Last-Event-ID as EventSource does.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { serverSentEvents } from '../test/sse.js';
import { ADMIN, uniqueWord, type FaultCluster, type PhosNode } from './cluster.js';

/** The longest one request may take before the client gives up on it and tries again. */
const REQUEST_TIMEOUT_MS = 15_000;

const jitter = (fromMs: number, toMs: number) => fromMs + Math.random() * (toMs - fromMs);

async function post(url: string, body: unknown, cookie?: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
}

/** The first api that answers, trying each in turn until `timeoutMs`. */
async function onAnyApi(apis: PhosNode[], call: (url: string) => Promise<Response>, timeoutMs = 60_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const { url } = apis[attempt % apis.length]!;
    try {
      const response = await call(url!);
      if (response.status < 500) return response;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = String(error);
    }
    await delay(jitter(200, 500));
  }
  throw new Error(`no api answered within ${timeoutMs} ms: ${last}`);
}

/** Signs in and answers the session cookie, as `name=value`. */
export async function signIn(cluster: FaultCluster, credentials: { email: string; password: string }): Promise<string> {
  const response = await onAnyApi(cluster.apis, (url) => post(`${url}/trpc/auth.login`, credentials));
  if (response.status !== 200) throw new Error(`sign-in failed: ${response.status} ${await response.text()}`);
  const cookie = response.headers
    .getSetCookie()
    .map((header) => header.split(';')[0]!)
    .find((pair) => pair.includes('phos_session='));
  if (!cookie) throw new Error('sign-in set no session cookie');
  return cookie;
}

/** A Provider account, created by the Admin, signed in: its cookie. */
export async function signedInClinician(cluster: FaultCluster): Promise<string> {
  const admin = await signIn(cluster, ADMIN);
  const clinician = { email: `clinician-${uniqueWord(8)}@example.com`, password: 'Lantern-Basalt-Heron-42' };
  const input = { ...clinician, firstName: 'Grace', lastName: 'Hopper', role: 'Provider' };
  const created = await onAnyApi(cluster.apis, (url) => post(`${url}/trpc/admin.createUser`, input, admin));
  if (created.status !== 200) throw new Error(`creating the clinician failed: ${created.status} ${await created.text()}`);
  return signIn(cluster, clinician);
}

/** The queue's head event id, to start live views from. */
export async function queueHead(cluster: FaultCluster, cookie: string): Promise<bigint> {
  const response = await onAnyApi(cluster.apis, (url) => post(`${url}/trpc/queue.list`, {}, cookie));
  const body = (await response.json()) as { result: { data: { lastEventId: string } } };
  return BigInt(body.result.data.lastEventId);
}

export interface Registrant {
  email: string;
  password: string;
  firstName: string;
  lastName: string;
  dateOfBirth: string;
}

export interface FloodResult {
  /** Registrations the clinic accepted (a 200 with the account), after however many tries. */
  accepted: (Registrant & { userId: string; attempts: number })[];
  /** Registrations refused for good (a 4xx other than 429), or never accepted before the deadline. */
  refused: { email: string; last: string }[];
  /** Every request sent, first tries and retries. */
  requests: number;
  /** The answers that were not a 200, by status and error code (`503 BUSY`), or `no answer`. */
  failures: Record<string, number>;
}

/**
 * Why a request got no answer: `refused` (nothing listening), `timed out`, or `cut` (the
 * connection closed or reset with the request sent).
 */
function noAnswer(error: unknown): string {
  if (error instanceof DOMException && error.name === 'TimeoutError') return 'no answer: timed out';
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code === 'ECONNREFUSED' ? 'no answer: refused' : `no answer: cut (${cause?.code ?? 'unknown'})`;
}

/** `503 BUSY`: a tRPC error answer's status and its most specific code. */
async function failureOf(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const { error } = JSON.parse(text) as { error?: { data?: { code?: string; appCode?: string } } };
    return `${response.status} ${error?.data?.appCode ?? error?.data?.code ?? '?'}`;
  } catch {
    return `${response.status} (not JSON)`;
  }
}

export interface Flood {
  /** Resolves once `n` registrations have been sent a first time. */
  sent(n: number): Promise<void>;
  done: Promise<FloodResult>;
}

/**
 * `count` patients register, `perSecond` of them a second, spread over the apis. One who gets no
 * answer, a 5xx or a 429 tries again with the same details half a second to a second later, on
 * the next api, for up to `giveUpAfterMs`: as a person at the kiosk would, and as the web app
 * lets them.
 */
export function flood(cluster: FaultCluster, options: { count: number; perSecond: number; giveUpAfterMs?: number }): Flood {
  const giveUpAfterMs = options.giveUpAfterMs ?? 120_000;
  const family = uniqueWord(6);
  let sentCount = 0;
  const sentWaiters: { n: number; resolve: () => void }[] = [];
  let requests = 0;
  const failures: Record<string, number> = {};
  const fail = (key: string) => {
    failures[key] = (failures[key] ?? 0) + 1;
    return key;
  };

  async function register(index: number): Promise<FloodResult['accepted'][number] | FloodResult['refused'][number]> {
    const registrant: Registrant = {
      email: `flood-${family}-${index}@example.com`,
      password: 'correct-horse-battery',
      firstName: 'Ada',
      // Distinct words, so a test can look for them in logs and in Redis.
      lastName: `${family}${uniqueWord(8)}`,
      dateOfBirth: '1985-12-10',
    };
    const deadline = Date.now() + giveUpAfterMs;
    let last = '';
    for (let attempt = 1; Date.now() < deadline; attempt++) {
      requests += 1;
      const { url } = cluster.apis[(index + attempt - 1) % cluster.apis.length]!;
      try {
        const response = await post(`${url!}/trpc/auth.register`, registrant);
        if (response.status === 200) {
          const body = (await response.json()) as { result: { data: { user: { id: string } } } };
          return { ...registrant, userId: body.result.data.user.id, attempts: attempt };
        }
        last = fail(await failureOf(response));
        if (response.status < 500 && response.status !== 429) return { email: registrant.email, last };
      } catch (error) {
        last = `${fail(noAnswer(error))}: ${String(error)}`;
      } finally {
        if (attempt === 1) {
          sentCount += 1;
          for (const waiter of sentWaiters.filter((w) => w.n <= sentCount)) waiter.resolve();
        }
      }
      await delay(jitter(500, 1000));
    }
    return { email: registrant.email, last };
  }

  const done = (async () => {
    const started = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: options.count }, async (_, index) => {
        await delay(Math.max(0, started + (index * 1000) / options.perSecond - Date.now()));
        return register(index);
      }),
    );
    return {
      accepted: outcomes.filter((outcome): outcome is FloodResult['accepted'][number] => 'userId' in outcome),
      refused: outcomes.filter((outcome): outcome is FloodResult['refused'][number] => !('userId' in outcome)),
      requests,
      failures,
    };
  })();
  return {
    sent: (n) => (sentCount >= n ? Promise.resolve() : new Promise((resolve) => sentWaiters.push({ n, resolve }))),
    done,
  };
}

export interface LiveView {
  name: string;
  /** Ids of the queue changes received, in the order they came. */
  received(): bigint[];
  /** Connections opened so far (1 + reconnections). */
  connections(): number;
  /** What went wrong besides dropped connections: an error that is not retryable, an unreadable event. */
  problems(): string[];
  /** Drops the current connection, as a network would; it reconnects with Last-Event-ID. False if it had none open. */
  cut(): boolean;
  stop(): void;
}

/** Nothing, not even a ping (every 10 s), for this long: the connection is dead, open another. */
const INACTIVITY_MS = 25_000;

/**
 * The MD dashboard's live queue view: `queue.onChange` from `from`, moving to the next api when
 * its connection ends, after the server's `retry:` hint (or 250–1000 ms), with Last-Event-ID.
 */
export function liveView(cluster: FaultCluster, cookie: string, from: bigint, index: number): LiveView {
  const received: bigint[] = [];
  const problems: string[] = [];
  let connections = 0;
  const stopping = new AbortController();
  let current: AbortController | undefined;
  const name = `view-${index}`;

  async function connectOnce(url: string): Promise<number | undefined> {
    const controller = new AbortController();
    current = controller;
    let inactivity = setTimeout(() => controller.abort(), INACTIVITY_MS);
    let retryMs: number | undefined;
    try {
      const last = received.at(-1);
      const response = await fetch(
        `${url}/trpc/queue.onChange?input=${encodeURIComponent(JSON.stringify({ lastEventId: from.toString() }))}`,
        {
          headers: { cookie, accept: 'text/event-stream', ...(last === undefined ? {} : { 'last-event-id': last.toString() }) },
          signal: controller.signal,
        },
      );
      if (response.status !== 200) {
        const text = await response.text();
        if (response.status < 500) problems.push(`${name}: ${response.status} ${text}`);
        return undefined;
      }
      for await (const event of serverSentEvents(response.body!, (ms) => (retryMs = ms))) {
        clearTimeout(inactivity);
        inactivity = setTimeout(() => controller.abort(), INACTIVITY_MS);
        if (event.event === 'message') {
          if (event.id === undefined) problems.push(`${name}: a change without an id`);
          else received.push(BigInt(event.id));
        } else if (event.event === 'serialized-error') {
          // SERVER_RESTARTING and the like are retryable; an ended session is not.
          if (/SESSION_ENDED|UNAUTHORIZED|FORBIDDEN/.test(event.data)) problems.push(`${name}: ${event.data}`);
          break;
        }
      }
    } catch {
      // Cut, refused or reset: reconnect.
    } finally {
      clearTimeout(inactivity);
      controller.abort();
    }
    return retryMs;
  }

  void (async () => {
    while (!stopping.signal.aborted && problems.length === 0) {
      const { url } = cluster.apis[(index + connections) % cluster.apis.length]!;
      connections += 1;
      const retryMs = await connectOnce(url!);
      await delay(retryMs ?? jitter(250, 1000), undefined, { signal: stopping.signal }).catch(() => undefined);
    }
  })();

  return {
    name,
    received: () => [...received],
    connections: () => connections,
    problems: () => [...problems],
    cut() {
      if (!current || current.signal.aborted) return false;
      current.abort();
      return true;
    },
    stop() {
      stopping.abort();
      current?.abort();
    },
  };
}

/** `count` live views of one signed-in clinician, from the queue's head now; and the clinician's cookie. */
export async function openLiveViews(cluster: FaultCluster, count: number): Promise<{ views: LiveView[]; from: bigint; cookie: string }> {
  const cookie = await signedInClinician(cluster);
  const from = await queueHead(cluster, cookie);
  return { views: Array.from({ length: count }, (_, index) => liveView(cluster, cookie, from, index)), from, cookie };
}

interface Entry {
  id: string;
  status: string;
  version: number;
}

/**
 * A clinician calls the longest-waiting patient to triage (`queue.transition`), as the dashboard
 * does: answers the outcome (`200`, `503 BUSY`, `409 STALE_VERSION`…) and how long it took, or
 * `nobody waiting`.
 */
export async function callNextPatient(cluster: FaultCluster, cookie: string, api = 0): Promise<{ outcome: string; ms: number }> {
  const { url } = cluster.apis[api % cluster.apis.length]!;
  const listed = await post(`${url!}/trpc/queue.list`, {}, cookie);
  if (listed.status !== 200) return { outcome: await failureOf(listed), ms: 0 };
  const { entries } = ((await listed.json()) as { result: { data: { entries: Entry[] } } }).result.data;
  const next = entries.find((entry) => entry.status === 'waiting');
  if (!next) return { outcome: 'nobody waiting', ms: 0 };
  const startedAt = Date.now();
  const moved = await post(`${url!}/trpc/queue.transition`, { entryId: next.id, expectedVersion: next.version, to: 'in_triage' }, cookie);
  const ms = Date.now() - startedAt;
  return { outcome: moved.status === 200 ? '200' : await failureOf(moved), ms };
}

/** A clinician calling patients every `everyMs` until stopped; answers the outcomes' tally. */
export function clinicianAtWork(cluster: FaultCluster, cookie: string, everyMs = 700): { stop: () => Promise<Record<string, number>> } {
  const outcomes: Record<string, number> = {};
  const stopping = new AbortController();
  const working = (async () => {
    for (let turn = 0; !stopping.signal.aborted; turn++) {
      const { outcome } = await callNextPatient(cluster, cookie, turn).catch((error: unknown) => ({ outcome: noAnswer(error) }));
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      await delay(everyMs, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
  })();
  return {
    async stop() {
      stopping.abort();
      await working;
      return outcomes;
    },
  };
}
