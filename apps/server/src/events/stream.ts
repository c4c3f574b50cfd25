import type { Db } from '../db/client.js';
import type { EventHub } from './hub.js';
import { headEventId, readEventsAfter, type LoggedEvent } from './log.js';

/**
 * Every committed event after `lastEventId` (or after now, without one), once and in order, then
 * live ones. Listens from the call, before it replays the log, and fills any gap between what it
 * has sent and what the hub delivers from the log, so nothing falls in between. A caller that
 * reads state and then wants every change after it passes the head it read before (`headEventId`).
 */
export function streamEvents(
  db: Db,
  hub: EventHub,
  lastEventId: string | null | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<LoggedEvent> {
  return replayThenLive(db, hub.listen(signal), lastEventId);
}

async function* replayThenLive(
  db: Db,
  live: AsyncIterable<LoggedEvent[]>,
  lastEventId: string | null | undefined,
): AsyncGenerator<LoggedEvent> {
  const head = await headEventId(db);
  const requested = lastEventId ? BigInt(lastEventId) : head;
  // A cursor past the head belongs to another database: start from what is there.
  let cursor = requested > head ? head : requested;

  async function* catchUp(uptoId?: bigint) {
    for (;;) {
      const events = await readEventsAfter(db, cursor, { uptoId, limit: 500 });
      if (events.length === 0) return;
      for (const event of events) {
        cursor = event.id;
        yield event;
      }
    }
  }

  yield* catchUp();
  for await (const batch of live) {
    for (const event of batch) {
      if (event.id <= cursor) continue;
      if (event.id > cursor + 1n) yield* catchUp(event.id - 1n);
      cursor = event.id;
      yield event;
    }
  }
}
