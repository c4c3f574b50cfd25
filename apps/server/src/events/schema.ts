import { sql } from 'drizzle-orm';
import { bigint, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** Integration events written in the same transaction as the change that caused them. */
export const outbox = pgTable(
  'outbox',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    type: text('type').notNull(),
    version: integer('version').notNull(),
    payload: jsonb('payload').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    /** When the relay handed the row to BullMQ; null while it still has to. */
    sentAt: timestamp('sent_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    index('outbox_unsent_idx').on(t.createdAt).where(sql`${t.sentAt} is null`),
    // The reconciler looks back over recently sent rows for registrations that produced nothing.
    index('outbox_sent_idx').on(t.sentAt).where(sql`${t.sentAt} is not null`),
  ],
);

/** Domain events dashboards replay. Ids are gapless and in commit order (see appendEvents). */
export const eventLog = pgTable('event_log', {
  id: bigint('id', { mode: 'bigint' }).primaryKey(),
  type: text('type').notNull(),
  /** The contract's major version: a reader refuses a major newer than it knows. */
  version: integer('version').notNull(),
  /** Its minor version: additive changes any reader of the same major can read. */
  minor: integer('minor').notNull().default(0),
  payload: jsonb('payload').notNull(),
  occurredAt: timestamp('occurred_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

/** One row per stream; updating it serialises appends, so ids follow commit order. */
export const eventStreams = pgTable('event_streams', {
  stream: text('stream').primaryKey(),
  lastId: bigint('last_id', { mode: 'bigint' }).notNull(),
});

/** How far a durable consumer of the event log has got; its row lock keeps it single-running. */
export const eventConsumers = pgTable('event_consumers', {
  name: text('name').primaryKey(),
  lastId: bigint('last_id', { mode: 'bigint' }).notNull(),
});
