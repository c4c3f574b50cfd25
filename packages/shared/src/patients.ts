import { z } from 'zod';
import { dateOfBirthSchema, emailSchema, nameSchema, uuidSchema } from './fields.js';
import { queueEntrySchema, queueStatusSchema, transitionRecordSchema, triageRecordSchema } from './queue.js';

export const patientByIdInput = z.object({ id: uuidSchema });

/**
 * Whether staff have confirmed at the desk that the person is who the record says. A
 * self-registered record starts unverified; a walk-in is verified by whoever registers it.
 */
export const identitySchema = z.object({
  verified: z.boolean(),
  verifiedAt: z.iso.datetime({ offset: true }).nullable(),
  verifiedBy: z.string().nullable(),
  selfRegistered: z.boolean(),
});
export type Identity = z.infer<typeof identitySchema>;

export const patientSchema = z.object({
  id: uuidSchema,
  firstName: z.string(),
  lastName: z.string(),
  dateOfBirth: z.string(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  registeredAt: z.iso.datetime({ offset: true }),
  queueStatus: queueStatusSchema.nullable(),
  /** Staff only: the existing patient this registration may duplicate. */
  possibleDuplicateOf: uuidSchema.nullable(),
  identity: identitySchema,
});
export type Patient = z.infer<typeof patientSchema>;

export const registrationStatusSchema = z.object({
  state: z.enum(['pending', 'ready']),
  patientId: uuidSchema.optional(),
  /** Pending for longer than usual: say so, and that the front desk can help. Absent means false. */
  delayed: z.boolean().optional(),
});
export type RegistrationStatus = z.infer<typeof registrationStatusSchema>;

export const journeySchema = z.object({
  /** The patient's visits, newest first. */
  visits: z.array(
    z.object({
      entry: queueEntrySchema,
      transitions: z.array(transitionRecordSchema),
      triage: z.array(triageRecordSchema),
    }),
  ),
});
export type Journey = z.infer<typeof journeySchema>;

/** Folds a name for matching: case and accents do not tell two people apart. */
export function nameKey(firstName: string, lastName: string): string {
  return `${firstName} ${lastName}`.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().replace(/\s+/g, ' ').trim();
}

export const phoneSchema = z
  .string()
  .trim()
  .regex(/^\+?[\d ().-]{6,20}$/, 'Enter a phone number');

export const walkInInput = z.object({
  firstName: nameSchema,
  lastName: nameSchema,
  dateOfBirth: dateOfBirthSchema,
  email: emailSchema.optional(),
  phone: phoneSchema.optional(),
  /** Queue this existing patient instead of creating a new record. */
  existingPatientId: uuidSchema.optional(),
});
export type WalkInInput = z.infer<typeof walkInInput>;

export const findMatchesInput = z.object({
  firstName: nameSchema,
  lastName: nameSchema,
  dateOfBirth: dateOfBirthSchema,
  email: emailSchema.optional(),
});

export const patientMatchSchema = z.object({
  id: uuidSchema,
  firstName: z.string(),
  lastName: z.string(),
  dateOfBirth: z.string(),
  email: z.string().nullable(),
  reasons: z.array(z.enum(['name_and_date_of_birth', 'email'])),
  /** False for a self-registered record nobody has checked: confirm identity before queuing on it. */
  identityVerified: z.boolean(),
});
export type PatientMatch = z.infer<typeof patientMatchSchema>;

/** Where a patient is, as they see it: received → record ready → in the queue → seen → done. */
export const visitStages = ['received', 'ready', 'waiting', 'in_triage', 'with_clinician', 'done', 'left'] as const;
export const visitSchema = z.object({
  stage: z.enum(visitStages),
  patientId: uuidSchema.nullable(),
  /** While waiting or in triage: 1 means next. */
  position: z.number().int().positive().nullable(),
  estimatedWaitMinutes: z.number().int().nonnegative().nullable(),
  clinicianName: z.string().nullable(),
  roomName: z.string().nullable(),
  /** At `received` for longer than usual: say so, and that the front desk can help. Absent means false. */
  delayed: z.boolean().optional(),
});
export type Visit = z.infer<typeof visitSchema>;
