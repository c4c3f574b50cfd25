import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { coalesce } from '../coalesce.js';
import { consumeEvents } from '../events/consumer.js';
import { eventsChannel } from '../events/hub.js';
import { commitAndAnnounce } from '../events/log.js';
import { createUnreadableEvents, type UnreadableEvents } from '../events/unreadable.js';
import { signedInUserIds } from '../identity/sessions.js';
import { listUsersByRole } from '../identity/users.js';
import { notifyFromEvents, type Directory } from '../notifications/notifications.js';
import { flagOverdueEntries } from '../queue/overdue.js';
import { getAcuityTargets } from '../queue/settings.js';

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
  /** Alerts on patients past their target wait. */
  sweep(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The worker side of notifications: a durable consumer of the event log, woken by the same
 * pub/sub messages as the api and by a timer, plus a periodic sweep for waits past target.
 */
export async function startNotifier(options: {
  db: Db;
  subscriber: Redis;
  prefix: string;
  announce: (lastEventId: bigint) => Promise<void>;
  log: Logger;
  directory?: Directory;
  intervalMs?: number;
  sweepIntervalMs?: number;
  /** Where skipped events are counted: the process's hub's, so an Admin sees them in one place. */
  unreadable?: UnreadableEvents;
}): Promise<Notifier> {
  const { db, subscriber, prefix, announce, log, directory = identityDirectory } = options;
  const unreadable = options.unreadable ?? createUnreadableEvents(log);
  const batchSize = 200;

  async function announceQuietly(lastEventId: bigint) {
    await announce(lastEventId).catch((error: unknown) => log.warn({ err: error }, 'could not announce notifications'));
  }

  const consumer = coalesce(
    async () => {
      for (;;) {
        const batch = await consumeEvents(db, NOTIFICATIONS_CONSUMER, (tx, events) => notifyFromEvents(tx, events, directory), {
          batchSize,
          unreadable,
        });
        if (batch.appended !== null) await announceQuietly(batch.appended);
        if (batch.consumed < batchSize) return;
      }
    },
    (error) => log.warn({ err: error }, 'notification pass failed; retrying on the next signal'),
  );

  const sweeper = coalesce(
    async () => {
      await commitAndAnnounce({ db, announce: announceQuietly }, async (tx) => ({
        events: await flagOverdueEntries(tx, await getAcuityTargets(tx)),
      }));
    },
    (error) => log.warn({ err: error }, 'overdue sweep failed; retrying on the next tick'),
  );

  const onMessage = () => void consumer.run();
  subscriber.on('message', onMessage);
  await subscriber.subscribe(eventsChannel(prefix));
  const timers = [
    setInterval(() => void consumer.run(), options.intervalMs ?? 2000),
    setInterval(() => void sweeper.run(), options.sweepIntervalMs ?? 15_000),
  ];
  for (const timer of timers) timer.unref();
  await consumer.run();

  return {
    run: consumer.run,
    sweep: sweeper.run,
    async stop() {
      for (const timer of timers) clearInterval(timer);
      subscriber.off('message', onMessage);
      await Promise.all([consumer.idle(), sweeper.idle()]);
    },
  };
}
