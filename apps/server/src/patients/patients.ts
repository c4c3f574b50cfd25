import { eq } from 'drizzle-orm';
import type { DomainEvent, UserRegisteredV1 } from '@phos/shared';
import type { Db } from '../db/client.js';
import { patients } from './schema.js';

export type PatientRow = typeof patients.$inferSelect;

/**
 * Creates the patient for a Patient-role registration. Unique on user id: a redelivered
 * registration returns null and changes nothing.
 */
export async function createPatientFromRegistration(
  tx: Db,
  registration: UserRegisteredV1 & { dateOfBirth: string },
): Promise<{ patient: PatientRow; events: DomainEvent[] } | null> {
  const [patient] = await tx
    .insert(patients)
    .values({
      userId: registration.userId,
      firstName: registration.firstName,
      lastName: registration.lastName,
      dateOfBirth: registration.dateOfBirth,
      email: registration.email,
      registeredAt: new Date(registration.registeredAt),
    })
    .onConflictDoNothing({ target: patients.userId })
    .returning();
  if (!patient) return null;
  return {
    patient,
    events: [{ type: 'patient.created', payload: { patientId: patient.id, userId: patient.userId } }],
  };
}

export async function findPatient(db: Db, id: string): Promise<PatientRow | undefined> {
  const [row] = await db.select().from(patients).where(eq(patients.id, id));
  return row;
}

export async function findPatientByUserId(db: Db, userId: string): Promise<PatientRow | undefined> {
  const [row] = await db.select().from(patients).where(eq(patients.userId, userId));
  return row;
}
