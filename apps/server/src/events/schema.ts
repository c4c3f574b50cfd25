import { bigint, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import type { EventMeta } from './meta.js';

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
  /** Where the event came from (`EventMeta`: the request id), never health data. */
  metadata: jsonb('metadata').$type<EventMeta>().notNull().default({}),
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
