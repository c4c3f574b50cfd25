import { z } from 'zod';
import { uuidSchema } from './fields.js';
import { queueStatusSchema } from './queue.js';

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
