import type { Queue } from 'bullmq';
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { headEventId } from '../events/log.js';
import { eventConsumers, eventLog } from '../events/schema.js';
import { outbox } from '../outbox/schema.js';

/** The job states the pipeline's readings count, per queue. */
export const jobStates = ['waiting', 'active', 'delayed', 'failed'] as const;

export interface OutboxBacklog {
  unsent: number;
  /** Age of the oldest unsent row; 0 when there is none. */
  oldestAgeSeconds: number;
}

/** Outbox rows committed and not yet handed to the job queue, in one statement. */
export async function readOutboxBacklog(db: Db): Promise<OutboxBacklog> {
  const [row] = await db
    .select({
      unsent: sql<number>`count(*)::int`,
      age: sql<number | null>`extract(epoch from now() - min(${outbox.createdAt}))::float8`,
    })
    .from(outbox)
    .where(sql`${outbox.sentAt} is null`);
  return { unsent: row?.unsent ?? 0, oldestAgeSeconds: Math.max(0, row?.age ?? 0) };
}

export interface ConsumerLag {
  name: string;
  lagEvents: number;
  /** Age of the oldest event it has yet to handle; 0 when caught up. */
  lagSeconds: number;
}

/** The log's head and how far behind it each durable consumer (the notifier) is. */
export async function readConsumerLag(db: Db): Promise<{ head: bigint; consumers: ConsumerLag[] }> {
  const head = await headEventId(db);
  const rows = await db
    .select({
      name: eventConsumers.name,
      lastId: eventConsumers.lastId,
      age: sql<
        number | null
      >`(select extract(epoch from now() - ${eventLog.occurredAt})::float8 from ${eventLog} where ${eventLog.id} = ${eventConsumers.lastId} + 1)`,
    })
    .from(eventConsumers);
  const consumers = rows.map((row) => ({
    name: row.name,
    lagEvents: Math.max(0, Number(head - row.lastId)),
    lagSeconds: row.lastId < head ? Math.max(0, row.age ?? 0) : 0,
  }));
  return { head, consumers };
}

export interface QueueHealth extends Record<(typeof jobStates)[number], number> {
  name: string;
  /** Worker connections to the queue, from every process. */
  workers: number;
}

/** Each queue's job counts by state and its connected workers. */
export async function readQueueHealth(queues: readonly Queue[]): Promise<QueueHealth[]> {
  return Promise.all(
    queues.map(async (queue) => {
      const [counts, workers] = await Promise.all([queue.getJobCounts(...jobStates), queue.getWorkersCount()]);
      return {
        name: queue.name,
        waiting: counts.waiting ?? 0,
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        failed: counts.failed ?? 0,
        workers,
      };
    }),
  );
}
