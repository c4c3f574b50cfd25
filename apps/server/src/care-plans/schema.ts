import { index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { CarePlanStatus } from '@phos/shared';

/** Care plans. An approved plan is never edited: a change is a new version that replaces it. */
export const carePlans = pgTable(
  'care_plans',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    patientId: uuid('patient_id').notNull(),
    version: integer('version').notNull().default(1),
    replacesPlanId: uuid('replaces_plan_id'),
    title: text('title').notNull(),
    goals: text('goals').notNull(),
    instructions: text('instructions').notNull(),
    status: text('status').$type<CarePlanStatus>().notNull().default('draft'),
    draftedById: uuid('drafted_by_id').notNull(),
    draftedByName: text('drafted_by_name').notNull(),
    draftedAt: timestamp('drafted_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    approvedById: uuid('approved_by_id'),
    approvedByName: text('approved_by_name'),
    approvedAt: timestamp('approved_at', { withTimezone: true, mode: 'date' }),
    rejectedById: uuid('rejected_by_id'),
    rejectedByName: text('rejected_by_name'),
    rejectedAt: timestamp('rejected_at', { withTimezone: true, mode: 'date' }),
    rejectionReason: text('rejection_reason'),
    supersededAt: timestamp('superseded_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [index('care_plans_patient_idx').on(t.patientId, t.draftedAt)],
);
