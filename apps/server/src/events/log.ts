import { and, asc, gt, lte, sql } from 'drizzle-orm';
import { domainEvents, type DomainEvent } from '@phos/shared';
import type { Db } from '../db/client.js';
import { eventLog, eventStreams } from './schema.js';

export const CLINIC_STREAM = 'clinic';

export type LoggedEvent = DomainEvent & { id: bigint; occurredAt: Date };

/**
 * Appends events in the caller's transaction. Bumping the stream's counter row locks it until
 * commit, so a second writer waits: ids are handed out in commit order with no gaps, and a
 * reader that has seen id N can never later find an N-1 it missed.
 */
export async function appendEvents(tx: Db, events: readonly DomainEvent[]): Promise<bigint> {
  if (events.length === 0) throw new Error('appendEvents needs at least one event');
  const count = BigInt(events.length);
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
      payload: event.payload,
    })),
  );
  return stream.lastId;
}

/** The id of the newest committed event, 0 when there is none. */
export async function headEventId(db: Db): Promise<bigint> {
  const [row] = await db
    .select({ lastId: eventStreams.lastId })
    .from(eventStreams)
    .where(sql`${eventStreams.stream} = ${CLINIC_STREAM}`);
  return row?.lastId ?? 0n;
}

/** Committed events after `afterId` (and up to `uptoId`), oldest first. */
export async function readEventsAfter(
  db: Db,
  afterId: bigint,
  options: { uptoId?: bigint; limit?: number } = {},
): Promise<LoggedEvent[]> {
  const rows = await db
    .select()
    .from(eventLog)
    .where(and(gt(eventLog.id, afterId), options.uptoId === undefined ? undefined : lte(eventLog.id, options.uptoId)))
    .orderBy(asc(eventLog.id))
    .limit(options.limit ?? 1000);
  return rows.map((row) => {
    if (!Object.hasOwn(domainEvents, row.type)) throw new Error(`event ${row.id} has unknown type ${row.type}`);
    const contract = domainEvents[row.type as DomainEvent['type']];
    return {
      id: row.id,
      occurredAt: row.occurredAt,
      type: row.type,
      payload: contract.schema.parse(row.payload),
    } as LoggedEvent;
  });
}
