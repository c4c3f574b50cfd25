import type { Logger } from 'pino';
import type { UnreadableEvent } from './log.js';

/**
 * The events this process has skipped because this build cannot read them. Every reader of the
 * log (the hub, each subscription's catch-up, the notifier) meets the same ones; each id is
 * logged and counted once per process, however many readers pass it.
 */
export interface UnreadableEvents {
  record(events: readonly UnreadableEvent[]): void;
  /** How many distinct ids were skipped, and the last few, newest last. */
  snapshot(): { skipped: number; lastSkipped: UnreadableEvent[] };
}

export function createUnreadableEvents(log: Logger, options: { keep?: number; remember?: number } = {}): UnreadableEvents {
  const keep = options.keep ?? 10;
  // Bounds memory in a long rolling deploy; an id forgotten and met again is logged again.
  const remember = options.remember ?? 10_000;
  const seen = new Set<bigint>();
  const last: UnreadableEvent[] = [];
  let skipped = 0;

  return {
    record(events) {
      for (const event of events) {
        if (seen.has(event.id)) continue;
        seen.add(event.id);
        if (seen.size > remember) seen.delete(seen.values().next().value as bigint);
        skipped += 1;
        last.push(event);
        if (last.length > keep) last.shift();
        // Ids, type, version and a reason built from the schema: never the payload.
        log.error(
          { eventId: event.id.toString(), eventType: event.type, eventVersion: event.version, reason: event.reason },
          'skipped an event this build cannot read',
        );
      }
    },
    snapshot: () => ({ skipped, lastSkipped: [...last] }),
  };
}
