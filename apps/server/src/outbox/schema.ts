import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** Integration events written in the same transaction as the change that caused them. */
export const outbox = pgTable(
  'outbox',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    type: text('type').notNull(),
    version: integer('version').notNull(),
    payload: jsonb('payload').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    /** The request that wrote it (X-Request-Id), carried into its job, the worker's log and the events it leads to. */
    requestId: text('request_id'),
    /** The W3C traceparent of the span that wrote it, when tracing is on: its delivery and job join that trace. */
    traceparent: text('traceparent'),
    /** When the relay handed the row to BullMQ; null while it still has to. */
    sentAt: timestamp('sent_at', { withTimezone: true, mode: 'date' }),
    /**
     * A registration an Admin gave up on after its job failed for good (Operations page): no job
     * retries it and the reconciler leaves it alone. Who, when and why; the why is the Admin's words.
     */
    discardedAt: timestamp('discarded_at', { withTimezone: true, mode: 'date' }),
    discardedBy: uuid('discarded_by'),
    discardReason: text('discard_reason'),
  },
  (t) => [
    index('outbox_unsent_idx')
      .on(t.createdAt)
      .where(sql`${t.sentAt} is null`),
    // The reconciler looks back over recently sent rows for registrations that produced nothing.
    index('outbox_sent_idx')
      .on(t.sentAt)
      .where(sql`${t.sentAt} is not null`),
  ],
);
