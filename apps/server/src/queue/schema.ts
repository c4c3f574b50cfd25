import { sql } from 'drizzle-orm';
import {
  boolean,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { Acuity, QueueStatus } from '@phos/shared';

/** The queue keeps its own copy of what a row shows, so it needs nothing from patients. */
export const queueEntries = pgTable(
  'queue_entries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    patientId: uuid('patient_id').notNull(),
    /** The registration that queued the patient: unique, so a redelivery adds no second entry. */
    registrationId: uuid('registration_id').unique(),
    firstName: text('first_name').notNull(),
    lastName: text('last_name').notNull(),
    dateOfBirth: date('date_of_birth', { mode: 'string' }).notNull(),
    status: text('status').$type<QueueStatus>().notNull().default('waiting'),
    statusChangedAt: timestamp('status_changed_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    acuity: smallint('acuity').$type<Acuity>(),
    clinicianId: uuid('clinician_id'),
    clinicianName: text('clinician_name'),
    roomId: uuid('room_id'),
    roomName: text('room_name'),
    possibleDuplicate: boolean('possible_duplicate').notNull().default(false),
    version: integer('version').notNull().default(1),
    arrivedAt: timestamp('arrived_at', { withTimezone: true, mode: 'date' }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    index('queue_entries_patient_id_idx').on(t.patientId),
    index('queue_entries_active_order_idx')
      .on(t.acuity, t.arrivedAt)
      .where(sql`${t.status} in ('waiting', 'in_triage', 'with_clinician')`),
  ],
);

/** What an entry looked like before a transition: an undo puts it back. */
export interface EntrySnapshot {
  status: QueueStatus;
  statusChangedAt: string;
  clinicianId: string | null;
  clinicianName: string | null;
  roomId: string | null;
  roomName: string | null;
}

/** Every status change: who, when, from, to. Undone ones stay, marked. */
export const queueTransitions = pgTable(
  'queue_transitions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    entryId: uuid('entry_id')
      .notNull()
      .references(() => queueEntries.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<'transition' | 'undo'>().notNull(),
    fromStatus: text('from_status').$type<QueueStatus>().notNull(),
    toStatus: text('to_status').$type<QueueStatus>().notNull(),
    byId: uuid('by_id').notNull(),
    byName: text('by_name').notNull(),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    clinicianId: uuid('clinician_id'),
    clinicianName: text('clinician_name'),
    roomId: uuid('room_id'),
    roomName: text('room_name'),
    previous: jsonb('previous').$type<EntrySnapshot>().notNull(),
    undoneAt: timestamp('undone_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [index('queue_transitions_entry_idx').on(t.entryId, t.at)],
);

export const triageAssessments = pgTable(
  'triage_assessments',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    entryId: uuid('entry_id')
      .notNull()
      .references(() => queueEntries.id, { onDelete: 'cascade' }),
    acuity: smallint('acuity').$type<Acuity>().notNull(),
    note: text('note'),
    byId: uuid('by_id').notNull(),
    byName: text('by_name').notNull(),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [index('triage_assessments_entry_idx').on(t.entryId, t.at)],
);

export const rooms = pgTable(
  'rooms',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    archivedAt: timestamp('archived_at', { withTimezone: true, mode: 'date' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('rooms_name_active_key')
      .on(sql`lower(${t.name})`)
      .where(sql`${t.archivedAt} is null`),
  ],
);

/** Minutes to be seen per acuity level; a missing row means the default. */
export const acuityTargets = pgTable('acuity_targets', {
  acuity: smallint('acuity').$type<Acuity>().primaryKey(),
  minutes: integer('minutes').notNull(),
});

/** One alert per entry and acuity: a patient past target is announced once, by one worker. */
export const overdueAlerts = pgTable(
  'queue_overdue_alerts',
  {
    entryId: uuid('entry_id')
      .notNull()
      .references(() => queueEntries.id, { onDelete: 'cascade' }),
    acuity: smallint('acuity').$type<Acuity>().notNull(),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.entryId, t.acuity] })],
);
