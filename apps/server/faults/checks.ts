/**
 * What every fault must leave true: accepted registrations = patients = queue entries with no
 * duplicates, every live view received every queue change exactly once and in order, within the
 * stated bound, and no Phos process died because a dependency did.
 */
import { expect } from 'vitest';
import type { FloodResult, LiveView } from './clients.js';
import type { FaultCluster } from './cluster.js';
import { until } from './servers.js';

const QUEUE_CHANGES = ['queue.entry.added', 'queue.entry.updated'];

interface Tally {
  accounts: number;
  patients: number;
  entries: number;
  addedEvents: number;
}

/** What the database holds for the flood's registrants. */
async function tally(cluster: FaultCluster, emails: string[]): Promise<Tally> {
  const [row] = await cluster.postgres.query<Record<keyof Tally, string>>(
    `select count(distinct u.id) as accounts, count(distinct p.id) as patients, count(distinct q.id) as entries,
            (select count(*) from event_log e where e.type = 'queue.entry.added' and e.payload->'entry'->>'patientId' in
              (select p2.id::text from patients p2 join users u2 on u2.id = p2.user_id where u2.email = any($1))) as "addedEvents"
       from users u left join patients p on p.user_id = u.id left join queue_entries q on q.patient_id = p.id
      where u.email = any($1)`,
    [emails],
  );
  return {
    accounts: Number(row!.accounts),
    patients: Number(row!.patients),
    entries: Number(row!.entries),
    addedEvents: Number(row!.addedEvents),
  };
}

async function queueChangeIds(cluster: FaultCluster, after: bigint): Promise<bigint[]> {
  const rows = await cluster.postgres.query<{ id: string }>(`select id from event_log where type = any($1) and id > $2 order by id`, [
    QUEUE_CHANGES,
    after.toString(),
  ]);
  return rows.map((row) => BigInt(row.id));
}

/** How a live view's ids differ from the log's: what it missed, got twice, or got out of order. */
export function compareWithLog(received: bigint[], expected: bigint[]) {
  const seen = new Set<bigint>();
  const duplicated: string[] = [];
  let outOfOrder = 0;
  received.forEach((id, index) => {
    if (seen.has(id)) duplicated.push(id.toString());
    seen.add(id);
    if (index > 0 && id <= received[index - 1]!) outOfOrder += 1;
  });
  const expectedSet = new Set(expected);
  return {
    missing: expected.filter((id) => !seen.has(id)).map(String),
    unexpected: received.filter((id) => !expectedSet.has(id)).map(String),
    duplicated,
    outOfOrder,
  };
}

export interface Converged {
  /** When every patient existed and every view had caught up (epoch ms). */
  at: number;
  /** From the call until then. */
  ms: number;
  tally: Tally;
}

/**
 * Waits up to `withinMs` for the flood's registrations to become patients and the live views to
 * catch up with the log, then checks the outcome exactly. Answers the time it took.
 */
export async function expectConverged(
  cluster: FaultCluster,
  flood: FloodResult,
  live: { views: LiveView[]; from: bigint },
  options: { withinMs: number },
): Promise<Converged> {
  const startedAt = Date.now();
  expect(flood.refused, 'every registrant was accepted in the end').toEqual([]);
  const emails = flood.accepted.map((registrant) => registrant.email);
  const everyonePlaced = async () => {
    const now = await tally(cluster, emails).catch(() => undefined);
    return now !== undefined && now.patients === emails.length && now.entries === emails.length;
  };
  const viewsCaughtUp = async () => {
    const head = (await queueChangeIds(cluster, live.from).catch(() => undefined))?.at(-1);
    return head !== undefined && live.views.every((view) => (view.received().at(-1) ?? live.from) >= head);
  };
  await until(
    `${emails.length} patients and ${live.views.length} live views caught up`,
    async () => (await everyonePlaced()) && (await viewsCaughtUp()),
    options.withinMs,
    250,
  ).catch(async (error: unknown) => {
    const now = await tally(cluster, emails).catch(() => undefined);
    const lastIds = live.views.map((view) => view.received().at(-1)?.toString());
    throw new Error(`${String(error)}: ${JSON.stringify({ now, accepted: emails.length, lastIds })}\n${cluster.deaths().join('\n')}`);
  });
  const at = Date.now();

  const now = await tally(cluster, emails);
  expect(now, 'one account, patient, queue entry and added event per accepted registration').toEqual({
    accounts: emails.length,
    patients: emails.length,
    entries: emails.length,
    addedEvents: emails.length,
  });
  const [totals] = await cluster.postgres.query<{ patients: string; entries: string }>(
    `select (select count(*) from patients) as patients, (select count(*) from queue_entries) as entries`,
  );
  expect(totals, 'nothing besides the accepted registrations').toEqual({ patients: String(emails.length), entries: String(emails.length) });

  const expected = await queueChangeIds(cluster, live.from);
  for (const view of live.views) {
    expect(view.problems(), `${view.name}'s problems`).toEqual([]);
    expect(compareWithLog(view.received(), expected), `${view.name}: every queue change exactly once, in order`).toEqual({
      missing: [],
      unexpected: [],
      duplicated: [],
      outOfOrder: 0,
    });
  }
  expect(cluster.deaths(), 'Phos processes that died on their own').toEqual([]);
  return { at, ms: at - startedAt, tally: now };
}

/** No registrant's email or name in anything a Phos process printed. */
export function expectNoHealthDataIn(output: string, flood: FloodResult): void {
  const leaked = flood.accepted.filter((registrant) => output.includes(registrant.email) || output.includes(registrant.lastName));
  expect(leaked.map((registrant) => registrant.email)).toEqual([]);
}

/**
 * No registrant's email or name anywhere in Redis: job data, failed jobs' reasons and stack
 * traces, throttling keys, everything under every key.
 */
export async function expectNoHealthDataInRedis(cluster: FaultCluster, flood: FloodResult): Promise<string> {
  const dump: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = (await cluster.redis.call('SCAN', cursor, 'COUNT', 1000)) as [string, string[]];
    cursor = next;
    for (const key of keys) {
      dump.push(key);
      const type = (await cluster.redis.call('TYPE', key)) as string;
      if (type === 'string') dump.push(String(await cluster.redis.call('GET', key)));
      if (type === 'hash') dump.push(...((await cluster.redis.call('HGETALL', key)) as string[]));
      if (type === 'list') dump.push(...((await cluster.redis.call('LRANGE', key, 0, -1)) as string[]));
      if (type === 'set') dump.push(...((await cluster.redis.call('SMEMBERS', key)) as string[]));
      if (type === 'zset') dump.push(...((await cluster.redis.call('ZRANGE', key, 0, -1)) as string[]));
      if (type === 'stream') dump.push(JSON.stringify(await cluster.redis.call('XRANGE', key, '-', '+')));
    }
  } while (cursor !== '0');
  expect(dump.length, 'Redis holds the queue').toBeGreaterThan(0);
  const text = dump.join('\n');
  expectNoHealthDataIn(text, flood);
  return text;
}
