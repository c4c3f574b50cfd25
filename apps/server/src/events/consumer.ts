import { eq } from 'drizzle-orm';
import type { DomainEvent } from '@phos/shared';
import type { Db } from '../db/client.js';
import { appendEvents, headEventId, readEventsAfter, type LoggedEvent } from './log.js';
import { eventConsumers } from './schema.js';

export interface ConsumedBatch {
  consumed: number;
  /** The last id of the events the handler appended, to announce after commit. */
  appended: bigint | null;
}

/**
 * Feeds the next batch of the event log to a durable consumer, in one transaction with what the
 * handler writes and the consumer's new position: each event is handled exactly once. The
 * position row is locked while a batch runs, so with several workers one of them does it.
 * A new consumer starts at the head: it reacts to what happens from now on.
 */
export async function consumeEvents(
  db: Db,
  name: string,
  handle: (tx: Db, events: LoggedEvent[]) => Promise<DomainEvent[]>,
  options: { batchSize?: number } = {},
): Promise<ConsumedBatch> {
  return db.transaction(async (tx) => {
    await tx
      .insert(eventConsumers)
      .values({ name, lastId: await headEventId(tx) })
      .onConflictDoNothing({ target: eventConsumers.name });
    const [position] = await tx
      .select()
      .from(eventConsumers)
      .where(eq(eventConsumers.name, name))
      .for('update', { skipLocked: true });
    if (!position) return { consumed: 0, appended: null };
    const events = await readEventsAfter(tx, position.lastId, { limit: options.batchSize ?? 200 });
    const last = events.at(-1);
    if (!last) return { consumed: 0, appended: null };
    const produced = await handle(tx, events);
    const appended = produced.length > 0 ? await appendEvents(tx, produced) : null;
    await tx.update(eventConsumers).set({ lastId: last.id }).where(eq(eventConsumers.name, name));
    return { consumed: events.length, appended };
  });
}
