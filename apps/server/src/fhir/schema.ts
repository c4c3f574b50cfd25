import { sql } from 'drizzle-orm';
import { bigint, index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

/**
 * Patients other systems sent over FHIR, one row per submission, written with its outbox row
 * (`registration_id` is the outbox id, and the patient's `registration_id` once created). The
 * sender's identifier is unique, so a conditional create (`If-None-Exist`) or a retried Bundle
 * finds what it already sent instead of sending it again.
 */
export const fhirSubmissions = pgTable(
  'fhir_submissions',
  {
    registrationId: uuid('registration_id').primaryKey(),
    apiClientId: uuid('api_client_id').notNull(),
    identifierSystem: text('identifier_system'),
    identifierValue: text('identifier_value'),
    /** A transaction Bundle's own id and the entry's place in it: the same Bundle again is the same submission. */
    bundleId: text('bundle_id'),
    bundleEntry: integer('bundle_entry'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('fhir_submissions_identifier_key')
      .on(t.identifierSystem, t.identifierValue)
      .where(sql`${t.identifierValue} is not null`),
    uniqueIndex('fhir_submissions_bundle_key')
      .on(t.apiClientId, t.bundleId, t.bundleEntry)
      .where(sql`${t.bundleId} is not null`),
  ],
);

/**
 * What one request sent, in order, whether each entry was new or sent before: its status URL
 * answers for all of them together.
 */
export const fhirSubmissionBatches = pgTable(
  'fhir_submission_batches',
  {
    batchId: uuid('batch_id').notNull(),
    position: integer('position').notNull(),
    registrationId: uuid('registration_id').notNull(),
    apiClientId: uuid('api_client_id').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.batchId, t.position] }), index('fhir_submission_batches_created_idx').on(t.createdAt)],
);

export type FhirExportStatus = 'pending' | 'running' | 'complete' | 'failed' | 'cancelled';

/**
 * Bulk exports (`$export`): who asked (a user or an API client, by id), what they asked for, and
 * where the job is. The request is kept as Phos rebuilt it from the parameters it took, so it
 * never holds health data. Deleted, files and all, once `expires_at` passes.
 */
export const fhirExports = pgTable(
  'fhir_exports',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    requesterKind: text('requester_kind').$type<'user' | 'client'>().notNull(),
    requesterId: uuid('requester_id').notNull(),
    level: text('level').$type<'system' | 'patient'>().notNull(),
    /** The kick-off's path and query, e.g. `/fhir/R4/$export?_type=Patient`. */
    request: text('request').notNull(),
    types: text('types').array().notNull(),
    since: timestamp('since', { withTimezone: true, mode: 'date' }),
    status: text('status').$type<FhirExportStatus>().notNull().default('pending'),
    /** Why it failed: codes and ids only. */
    error: text('error'),
    /** The manifest's `transactionTime`: everything committed before it is in the files. */
    transactionTime: timestamp('transaction_time', { withTimezone: true, mode: 'date' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true, mode: 'date' }),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [index('fhir_exports_requester_idx').on(t.requesterKind, t.requesterId), index('fhir_exports_expires_idx').on(t.expiresAt)],
);

/** An export's output: NDJSON files in the database, so any api instance serves them and PGlite needs no disk of its own. */
export const fhirExportFiles = pgTable(
  'fhir_export_files',
  {
    exportId: uuid('export_id')
      .notNull()
      .references(() => fhirExports.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    /** 1, 2, … within the type. */
    index: integer('index').notNull(),
    count: integer('count').notNull(),
    ndjson: text('ndjson').notNull(),
    /** Whose data the file holds, for the audit row each download leaves. */
    patientIds: uuid('patient_ids').array().notNull(),
  },
  (t) => [primaryKey({ columns: [t.exportId, t.type, t.index] })],
);

/**
 * Topic-based subscriptions (the R4 Subscriptions Backport) a system client made: what it follows
 * and from which event on, so its notification numbers count from its own start.
 */
export const fhirSubscriptions = pgTable(
  'fhir_subscriptions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    apiClientId: uuid('api_client_id').notNull(),
    topic: text('topic').notNull(),
    /** `Encounter?patient=…`: only this patient's visits; null for every visit. */
    patientId: uuid('patient_id'),
    content: text('content').$type<'id-only' | 'full-resource'>().notNull(),
    /** The event log's head when it was made: its first notification is the first event after. */
    startEventId: bigint('start_event_id', { mode: 'bigint' }).notNull(),
    status: text('status').$type<'active' | 'off'>().notNull().default('active'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [index('fhir_subscriptions_client_idx').on(t.apiClientId)],
);
