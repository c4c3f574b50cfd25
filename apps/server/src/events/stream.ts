import type { Db } from '../db/client.js';
import type { EventHub } from './hub.js';
import { headEventId, readEventsAfter, type LoggedEvent, type LogPage } from './log.js';
import type { UnreadableEvents } from './unreadable.js';

/**
 * Every committed event after `lastEventId` (or after now, without one), once and in order, then
 * live ones. Listens from the call, before it replays the log, and fills any gap between what it
 * has sent and what the hub delivers from the log, so nothing falls in between. A caller that
 * reads state and then wants every change after it passes the head it read before (`headEventId`).
 * Events this build cannot read are passed over, never yielded: the ids a client tracks rise
 * strictly and are a cursor, not a count, so a skipped id is no gap to it. Once `signal` aborts it
 * reads nothing more: the hub drops its pages, and a replay under way stops at the next page.
 */
export function streamEvents(
  db: Db,
  hub: EventHub,
  lastEventId: string | null | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<LoggedEvent> {
  return replayThenLive(db, hub.listen(signal), hub.unreadable, lastEventId, signal);
}

async function* replayThenLive(
  db: Db,
  live: AsyncIterable<LogPage>,
  unreadable: UnreadableEvents,
  lastEventId: string | null | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<LoggedEvent> {
  const head = await headEventId(db);
  const requested = lastEventId ? BigInt(lastEventId) : head;
  // A cursor past the head belongs to another database: start from what is there.
  // The cursor is the last id passed, yielded or skipped; catch-up and the live path both move it.
  let cursor = requested > head ? head : requested;

  async function* catchUp(uptoId?: bigint) {
    while (!signal?.aborted) {
      const page = await readEventsAfter(db, cursor, { uptoId, limit: 500 });
      if (page.lastId === cursor) return;
      unreadable.record(page.unreadable);
      yield* pass(page);
    }
  }

  function* pass(page: LogPage) {
    for (const event of page.events) {
      if (event.id <= cursor) continue;
      cursor = event.id;
      yield event;
    }
    if (page.lastId > cursor) cursor = page.lastId;
  }

  yield* catchUp();
  for await (const page of live) {
    if (page.lastId <= cursor) continue;
    if (page.afterId > cursor) yield* catchUp(page.afterId);
    yield* pass(page);
  }
}
