import { asc, inArray, isNull } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { coalesce } from '../coalesce.js';
import { createErrorReporter } from '../logging.js';
import { outbox } from './schema.js';

export type OutboxRow = typeof outbox.$inferSelect;

export interface RelayOptions {
  db: Db;
  /** Hands rows to the job queue, keyed by outbox id so a second delivery is a no-op. */
  deliver: (rows: readonly OutboxRow[]) => Promise<void>;
  log: Logger;
  intervalMs?: number;
  batchSize?: number;
}

export interface Relay {
  /** Runs a pass now (or right after the one under way) and resolves when it is done. */
  kick(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * Moves unsent outbox rows to the job queue: right after a commit (`kick`) and on a timer, which
 * is the guarantee when Redis was down or the process died between commit and delivery.
 * Rows are marked sent only after delivery, so a crash in between re-delivers, never loses.
 */
export function createRelay({ db, deliver, log, intervalMs = 1000, batchSize = 100 }: RelayOptions): Relay {
  let timer: NodeJS.Timeout | undefined;

  async function drain(): Promise<void> {
    for (;;) {
      const rows = await db.select().from(outbox).where(isNull(outbox.sentAt)).orderBy(asc(outbox.createdAt)).limit(batchSize);
      if (rows.length === 0) return;
      await deliver(rows);
      await db
        .update(outbox)
        .set({ sentAt: new Date() })
        .where(
          inArray(
            outbox.id,
            rows.map((row) => row.id),
          ),
        );
      log.debug({ count: rows.length }, 'outbox rows relayed');
      if (rows.length < batchSize) return;
    }
  }

  // Rate limited: while the database or Redis is away, a pass fails every interval.
  const errors = createErrorReporter(log);
  const { run: kick, idle } = coalesce(drain, (error) => errors.report('outbox relay pass failed; the timer retries', error));

  return {
    kick,
    start() {
      timer ??= setInterval(() => void kick(), intervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await idle();
    },
  };
}
