import { date, index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { QueueStatus } from '@phos/shared';

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
    version: integer('version').notNull().default(1),
    arrivedAt: timestamp('arrived_at', { withTimezone: true, mode: 'date' }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [index('queue_entries_patient_id_idx').on(t.patientId), index('queue_entries_arrived_at_idx').on(t.arrivedAt)],
);
