import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { appendEvents, headEventId, readEventsAfter, type LoggedEvent, type NewEvent, type UnreadableEvent } from './log.js';
import { eventConsumers } from './schema.js';
import type { UnreadableEvents } from './unreadable.js';

export interface ConsumedBatch {
  /** Log positions moved past: the events handled and those this build could not read. */
  consumed: number;
  /** The last id of the events the handler appended, to announce after commit. */
  appended: bigint | null;
}

/**
 * Feeds the next batch of the event log to a durable consumer, in one transaction with what the
 * handler writes and the consumer's new position: each event is handled exactly once. The
 * position row is locked while a batch runs, so with several workers one of them does it.
 * A new consumer starts at the head: it reacts to what happens from now on. An event this build
 * cannot read is recorded in `unreadable` (after commit) and passed over, never retried forever.
 */
export async function consumeEvents(
  db: Db,
  name: string,
  handle: (tx: Db, events: LoggedEvent[]) => Promise<NewEvent[]>,
  options: { batchSize?: number; unreadable?: UnreadableEvents } = {},
): Promise<ConsumedBatch> {
  let skipped: UnreadableEvent[] = [];
  const batch = await db.transaction(async (tx): Promise<ConsumedBatch> => {
    await tx
      .insert(eventConsumers)
      .values({ name, lastId: await headEventId(tx) })
      .onConflictDoNothing({ target: eventConsumers.name });
    const [position] = await tx.select().from(eventConsumers).where(eq(eventConsumers.name, name)).for('update', { skipLocked: true });
    if (!position) return { consumed: 0, appended: null };
    const page = await readEventsAfter(tx, position.lastId, { limit: options.batchSize ?? 200 });
    if (page.lastId === position.lastId) return { consumed: 0, appended: null };
    skipped = page.unreadable;
    const produced = page.events.length > 0 ? await handle(tx, page.events) : [];
    await tx.update(eventConsumers).set({ lastId: page.lastId }).where(eq(eventConsumers.name, name));
    // Last, so the clinic's event counter lock is held only until the commit.
    const appended = produced.length > 0 ? await appendEvents(tx, produced) : null;
    return { consumed: page.events.length + page.unreadable.length, appended };
  });
  options.unreadable?.record(skipped);
  return batch;
}
