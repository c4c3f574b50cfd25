import { and, asc, gt, lte, sql } from 'drizzle-orm';
import { domainEvents, type DomainEvent } from '@phos/shared';
import type { Db } from '../db/client.js';
import { inChildSpan } from '../trace-context.js';
import { readEventMeta, type EventMeta } from './meta.js';
import { eventLog, eventStreams } from './schema.js';

export const CLINIC_STREAM = 'clinic';

/** The longest a writer waits for the clinic's event counter row. */
export const EVENT_COUNTER_LOCK_TIMEOUT_MS = 2_000;

export type LoggedEvent = DomainEvent & { id: bigint; occurredAt: Date; meta: EventMeta };

/** An event to append, with where it came from when that differs from the rest of its transaction's. */
export type NewEvent = DomainEvent & { meta?: EventMeta };

/** An event this build cannot read: what it is and why, never its payload (it may hold health data). */
export interface UnreadableEvent {
  id: bigint;
  type: string;
  /** As stored, `major.minor`. */
  version: string;
  reason: string;
}

/**
 * The log after `afterId` up to `lastId` (equal when nothing was there): the events this build
 * can read, in id order, and the ones it cannot. Readers move their position to `lastId`, so an
 * unreadable event is passed over rather than read again forever.
 */
export interface LogPage {
  afterId: bigint;
  lastId: bigint;
  events: LoggedEvent[];
  unreadable: UnreadableEvent[];
}

/**
 * Appends events in the caller's transaction. Bumping the stream's counter row locks it until
 * commit, so a second writer waits: ids are handed out in commit order with no gaps, and a
 * reader that has seen id N can never later find an N-1 it missed.
 */
export async function appendEvents(tx: Db, events: readonly NewEvent[], meta: EventMeta = {}): Promise<bigint> {
  if (events.length === 0) throw new Error('appendEvents needs at least one event');
  const count = BigInt(events.length);
  // Every event writer in the clinic queues on this row. Appending is the transaction's last work,
  // so the lock is held for milliseconds; a writer that still finds it taken for longer gives up
  // (55P03, "busy": a staff call is told to retry, a job is retried) rather than join a pile-up.
  await tx.execute(sql.raw(`set local lock_timeout = ${EVENT_COUNTER_LOCK_TIMEOUT_MS}`));
  const [stream] = await tx
    .insert(eventStreams)
    .values({ stream: CLINIC_STREAM, lastId: count })
    .onConflictDoUpdate({ target: eventStreams.stream, set: { lastId: sql`${eventStreams.lastId} + ${count}` } })
    .returning({ lastId: eventStreams.lastId });
  if (!stream) throw new Error('event stream counter returned no row');
  const first = stream.lastId - count + 1n;
  await tx.insert(eventLog).values(
    events.map((event, index) => ({
      id: first + BigInt(index),
      type: event.type,
      version: domainEvents[event.type].version,
      minor: domainEvents[event.type].minor,
      payload: event.payload,
      metadata: event.meta ?? meta,
    })),
  );
  return stream.lastId;
}

/**
 * Runs `work` in a transaction that also appends the events it returns, then, once committed,
 * announces them so every api instance streams them now. Returns what `work` returned; when it
 * returns no events, nothing is appended or announced. `meta` (the request id) goes with every
 * event that names none of its own.
 */
export async function commitAndAnnounce<T extends { events: readonly NewEvent[] }>(
  services: { db: Db; announce: (lastEventId: bigint) => void | Promise<void> },
  work: (tx: Db) => Promise<T>,
  meta: EventMeta = {},
): Promise<T> {
  // A span of its own when traced (a job's, a request's), so the trace shows the transaction whole.
  const { result, lastEventId } = await inChildSpan('commit events', {}, () =>
    services.db.transaction(async (tx) => {
      const result = await work(tx);
      // Last, so nothing but the commit follows the counter lock.
      return { result, lastEventId: result.events.length > 0 ? await appendEvents(tx, result.events, meta) : null };
    }),
  );
  if (lastEventId !== null) await services.announce(lastEventId);
  return result;
}

/** The id of the newest committed event, 0 when there is none. */
export async function headEventId(db: Db): Promise<bigint> {
  const [row] = await db
    .select({ lastId: eventStreams.lastId })
    .from(eventStreams)
    .where(sql`${eventStreams.stream} = ${CLINIC_STREAM}`);
  return row?.lastId ?? 0n;
}

/** Why a row cannot be read, in words built from the schema, never from the payload's values. */
class Unreadable extends Error {}

type Upcaster = (payload: Record<string, unknown>) => Record<string, unknown>;

/** Turns payloads stored under an older version into the current shape, one version at a time. */
const upcasters: Partial<Record<DomainEvent['type'], Record<number, Upcaster>>> = {
  'queue.entry.added': {
    // v1 entries predate triage, rooms and versions.
    1: (payload) => {
      const entry = payload.entry as Record<string, unknown>;
      return {
        entry: {
          statusChangedAt: entry.arrivedAt,
          acuity: null,
          clinician: null,
          room: null,
          possibleDuplicate: false,
          version: 1,
          ...entry,
        },
      };
    },
  },
};

function upcast(type: DomainEvent['type'], version: number, payload: unknown): unknown {
  let current = payload as Record<string, unknown>;
  for (let from = version; from < domainEvents[type].version; from++) {
    const step = upcasters[type]?.[from];
    if (!step) throw new Unreadable(`no upcaster from version ${from}`);
    current = step(current);
  }
  return current;
}

function isKnownType(type: string): type is DomainEvent['type'] {
  return Object.hasOwn(domainEvents, type);
}

type EventRow = typeof eventLog.$inferSelect;

/** Reads a row by the rule in `@phos/shared` events: any minor of a known major, older majors upcast. */
function readRow(row: EventRow): LoggedEvent {
  if (!isKnownType(row.type)) throw new Unreadable('unknown type');
  const contract = domainEvents[row.type];
  if (row.version > contract.version) throw new Unreadable(`newer major version; this build reads up to ${contract.version}`);
  let payload: unknown;
  try {
    payload = upcast(row.type, row.version, row.payload);
  } catch (error) {
    throw error instanceof Unreadable ? error : new Unreadable(`upcasting from version ${row.version} failed`);
  }
  const parsed = contract.schema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.map(String).join('.')}` : '';
    throw new Unreadable(`payload does not match its schema (${issue?.code ?? 'invalid'}${where})`);
  }
  return { id: row.id, occurredAt: row.occurredAt, type: row.type, payload: parsed.data, meta: readEventMeta(row.metadata) } as LoggedEvent;
}

/**
 * Committed events after `afterId` (and up to `uptoId`), oldest first, with those this build
 * cannot read set apart. One bad row never stops a reader: it is reported and passed over.
 */
export async function readEventsAfter(db: Db, afterId: bigint, options: { uptoId?: bigint; limit?: number } = {}): Promise<LogPage> {
  const rows = await db
    .select()
    .from(eventLog)
    .where(and(gt(eventLog.id, afterId), options.uptoId === undefined ? undefined : lte(eventLog.id, options.uptoId)))
    .orderBy(asc(eventLog.id))
    .limit(options.limit ?? 1000);
  const page: LogPage = { afterId, lastId: rows.at(-1)?.id ?? afterId, events: [], unreadable: [] };
  for (const row of rows) {
    try {
      page.events.push(readRow(row));
    } catch (error) {
      const reason = error instanceof Unreadable ? error.message : 'could not be read';
      page.unreadable.push({ id: row.id, type: row.type.slice(0, 100), version: `${row.version}.${row.minor}`, reason });
    }
  }
  return page;
}
