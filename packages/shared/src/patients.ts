import { z } from 'zod';
import { uuidSchema } from './fields.js';
import { queueEntrySchema, queueStatusSchema, transitionRecordSchema, triageRecordSchema } from './queue.js';

export const patientByIdInput = z.object({ id: uuidSchema });

export const patientSchema = z.object({
  id: uuidSchema,
  firstName: z.string(),
  lastName: z.string(),
  dateOfBirth: z.string(),
  email: z.string().nullable(),
  registeredAt: z.iso.datetime({ offset: true }),
  queueStatus: queueStatusSchema.nullable(),
});
export type Patient = z.infer<typeof patientSchema>;

export const registrationStatusSchema = z.object({
  state: z.enum(['pending', 'ready']),
  patientId: uuidSchema.optional(),
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
