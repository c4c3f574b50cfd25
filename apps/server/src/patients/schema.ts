import { date, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const patients = pgTable(
  'patients',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** The account the patient registered with; unique, so a redelivered registration is a no-op. */
    userId: uuid('user_id').unique(),
    /** The walk-in registration that created the patient, unique for the same reason. */
    registrationId: uuid('registration_id').unique(),
    firstName: text('first_name').notNull(),
    lastName: text('last_name').notNull(),
    /** First and last name folded for matching: lower case, accents removed. */
    nameKey: text('name_key').notNull(),
    dateOfBirth: date('date_of_birth', { mode: 'string' }).notNull(),
    email: text('email'),
    phone: text('phone'),
    /** Set when a self-registration looked like this existing patient; staff review it. */
    possibleDuplicateOf: uuid('possible_duplicate_of'),
    /**
     * When staff confirmed at the desk that the person is who the record says. A self-registered
     * record starts unverified; a walk-in is verified by the staff member who registers it.
     */
    identityVerifiedAt: timestamp('identity_verified_at', { withTimezone: true, mode: 'date' }),
    identityVerifiedById: uuid('identity_verified_by_id'),
    identityVerifiedByName: text('identity_verified_by_name'),
    registeredAt: timestamp('registered_at', { withTimezone: true, mode: 'date' }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [index('patients_match_idx').on(t.nameKey, t.dateOfBirth)],
);
