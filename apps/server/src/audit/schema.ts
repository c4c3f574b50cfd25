import { sql } from 'drizzle-orm';
import { bigint, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * Who read or changed what (HIPAA 164.312(b)). Append-only: each row's hash covers its content and
 * the previous row's hash, so an edited, removed or reordered row breaks the chain from there on.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    /** Gapless and in commit order: handed out by `audit_chain`'s one row, like event ids. */
    id: bigint('id', { mode: 'bigint' }).primaryKey(),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
    userId: uuid('user_id'),
    role: text('role'),
    /** The procedure (`patients.byId`) or event (`auth.login`). */
    action: text('action').notNull(),
    patientIds: uuid('patient_ids')
      .array()
      .notNull()
      .default(sql`'{}'::uuid[]`),
    outcome: text('outcome').$type<'allowed' | 'refused'>().notNull(),
    ip: text('ip'),
    requestId: text('request_id'),
    /** Ids and codes only (an account's email for sign-in events), never health data. */
    detail: jsonb('detail').$type<Record<string, string | number | boolean | null>>().notNull().default({}),
    /** sha256 over the previous row's hash, this id and the content (see `audit.ts`). */
    hash: text('hash').notNull(),
  },
  (t) => [
    index('audit_log_at_idx').on(t.at),
    index('audit_log_user_idx').on(t.userId, t.id),
    index('audit_log_patients_idx').using('gin', t.patientIds),
  ],
);

/** The chain's head: updating its one row serialises appends and hands out the next id and hash. */
export const auditChain = pgTable('audit_chain', {
  id: integer('id').primaryKey(),
  lastId: bigint('last_id', { mode: 'bigint' }).notNull(),
  lastHash: text('last_hash').notNull(),
});
