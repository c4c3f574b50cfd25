import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { coalesce } from '../coalesce.js';
import { consumeEvents } from '../events/consumer.js';
import { eventsChannel } from '../events/hub.js';
import type { NewEvent } from '../events/log.js';
import { createUnreadableEvents, type UnreadableEvents } from '../events/unreadable.js';
import { signedInUserIds } from '../identity/sessions.js';
import { listUsersByRole } from '../identity/users.js';
import { createErrorReporter } from '../logging.js';
import { notifyFromEvents, type Directory } from '../notifications/notifications.js';

export const NOTIFICATIONS_CONSUMER = 'notifications';

/** Recipients from identity: the rules name roles, not people. */
export const identityDirectory: Directory = {
  async providers(db) {
    const providers = await listUsersByRole(db, 'Provider');
    return providers.map((user) => user.id);
  },
  /** Providers with a live session: not idled out, not past its end, account enabled. */
  signedInProviders: (db) => signedInUserIds(db, 'Provider'),
};

export interface Notifier {
  /** Applies the notification rules to everything new in the event log. */
  run(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The worker side of notifications: a durable consumer of the event log, woken by the same
 * pub/sub messages as the api and by a timer. (Waits past target are swept by a job scheduler:
 * jobs/overdue.ts.)
 */
export async function startNotifier(options: {
  db: Db;
  subscriber: Redis;
  prefix: string;
  announce: (lastEventId: bigint) => Promise<void>;
  log: Logger;
  directory?: Directory;
  intervalMs?: number;
  /** Where skipped events are counted: the process's hub's, so an Admin sees them in one place. */
  unreadable?: UnreadableEvents;
}): Promise<Notifier> {
  const { db, subscriber, prefix, announce, log, directory = identityDirectory } = options;
  const unreadable = options.unreadable ?? createUnreadableEvents(log);
  const batchSize = 200;

  async function announceQuietly(lastEventId: bigint) {
    await announce(lastEventId).catch((error: unknown) => log.warn({ err: error }, 'could not announce notifications'));
  }

  // Rate limited: while the database or Redis is away, every pass fails.
  const errors = createErrorReporter(log);
  const consumer = coalesce(
    async () => {
      for (;;) {
        let produced: NewEvent[] = [];
        const batch = await consumeEvents(
          db,
          NOTIFICATIONS_CONSUMER,
          async (tx, events) => (produced = await notifyFromEvents(tx, events, directory)),
          { batchSize, unreadable },
        );
        if (batch.appended !== null) await announceQuietly(batch.appended);
        for (const event of produced) {
          if (event.type !== 'notifications.created') continue;
          log.info({ ...event.meta, count: event.payload.notifications.length }, 'notifications created');
        }
        if (batch.consumed < batchSize) return;
      }
    },
    (error) => errors.report('notification pass failed; retrying on the next signal', error),
  );

  const onMessage = () => void consumer.run();
  subscriber.on('message', onMessage);
  await subscriber.subscribe(eventsChannel(prefix));
  const timer = setInterval(() => void consumer.run(), options.intervalMs ?? 2000);
  timer.unref();
  await consumer.run();

  return {
    run: consumer.run,
    async stop() {
      clearInterval(timer);
      subscriber.off('message', onMessage);
      await consumer.idle();
    },
  };
}
