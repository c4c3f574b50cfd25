import { and, eq, isNotNull, isNull, ne, or, sql } from 'drizzle-orm';
import {
  nameKey,
  type DomainEvent,
  type Identity,
  type PatientMatch,
  type PatientSubmittedV1,
  type StaffRef,
  type UserRegisteredV1,
  type WalkInInput,
  type WalkInRegisteredV1,
} from '@phos/shared';
import type { Db } from '../db/client.js';
import { AppError } from '../errors.js';
import { writeOutbox } from '../outbox/outbox.js';
import { patients } from './schema.js';

export type PatientRow = typeof patients.$inferSelect;

type Created = { patient: PatientRow; events: DomainEvent[] };

/**
 * Existing patients who look like this person: the same name and date of birth, ignoring case
 * and accents, or the same email.
 */
export async function findMatches(
  db: Db,
  person: { firstName: string; lastName: string; dateOfBirth: string; email?: string | null | undefined },
  excludeId?: string,
): Promise<PatientMatch[]> {
  const sameNameAndBirth = and(
    eq(patients.nameKey, nameKey(person.firstName, person.lastName)),
    eq(patients.dateOfBirth, person.dateOfBirth),
  );
  const sameEmail = person.email ? sql`lower(${patients.email}) = lower(${person.email})` : undefined;
  const rows = await db
    .select()
    .from(patients)
    .where(and(or(sameNameAndBirth, sameEmail), excludeId ? ne(patients.id, excludeId) : undefined))
    .orderBy(patients.createdAt)
    .limit(20);
  const key = nameKey(person.firstName, person.lastName);
  return rows.map((row) => ({
    id: row.id,
    firstName: row.firstName,
    lastName: row.lastName,
    dateOfBirth: row.dateOfBirth,
    email: row.email,
    identityVerified: row.identityVerifiedAt !== null,
    reasons: [
      ...(row.nameKey === key && row.dateOfBirth === person.dateOfBirth ? (['name_and_date_of_birth'] as const) : []),
      ...(person.email && row.email?.toLowerCase() === person.email.toLowerCase() ? (['email'] as const) : []),
    ],
  }));
}

/**
 * Creates the patient for a Patient-role registration. Unique on user id: a redelivered
 * registration returns null and changes nothing. A registration that looks like an existing
 * patient is flagged for staff; the registrant is never told.
 */
export async function createPatientFromRegistration(
  tx: Db,
  registration: UserRegisteredV1 & { dateOfBirth: string },
): Promise<Created | null> {
  const [patient] = await tx
    .insert(patients)
    .values({
      userId: registration.userId,
      firstName: registration.firstName,
      lastName: registration.lastName,
      nameKey: nameKey(registration.firstName, registration.lastName),
      dateOfBirth: registration.dateOfBirth,
      email: registration.email,
      registeredAt: new Date(registration.registeredAt),
    })
    .onConflictDoNothing({ target: patients.userId })
    .returning();
  if (!patient) return null;
  const [match] = await findMatches(tx, patient, patient.id);
  const flagged = match
    ? ((await tx.update(patients).set({ possibleDuplicateOf: match.id }).where(eq(patients.id, patient.id)).returning())[0] ?? patient)
    : patient;
  return {
    patient: flagged,
    events: [{ type: 'patient.created', payload: { patientId: patient.id, userId: patient.userId } }],
  };
}

/**
 * Creates the patient another system sent over FHIR, once per submission (unique on its
 * registration). Its identity is the sender's word, so the record starts unverified; one that
 * looks like an existing patient is flagged for staff, never merged.
 */
export async function createSubmittedPatient(tx: Db, registrationId: string, submitted: PatientSubmittedV1): Promise<Created | null> {
  const [patient] = await tx
    .insert(patients)
    .values({
      registrationId,
      firstName: submitted.firstName,
      lastName: submitted.lastName,
      nameKey: nameKey(submitted.firstName, submitted.lastName),
      dateOfBirth: submitted.dateOfBirth,
      email: submitted.email,
      phone: submitted.phone,
      registeredAt: new Date(submitted.submittedAt),
    })
    .onConflictDoNothing({ target: patients.registrationId })
    .returning();
  if (!patient) return null;
  const [match] = await findMatches(tx, patient, patient.id);
  const flagged = match
    ? ((await tx.update(patients).set({ possibleDuplicateOf: match.id }).where(eq(patients.id, patient.id)).returning())[0] ?? patient)
    : patient;
  return { patient: flagged, events: [{ type: 'patient.created', payload: { patientId: patient.id, userId: null } }] };
}

/** A walk-in to record: its registration, what the desk took down, and who took it. */
export interface WalkInArrival {
  registrationId: string;
  walkIn: WalkInRegisteredV1;
  registeredBy: StaffRef;
}

/**
 * Creates walk-ins' patient records, once per registration, in one statement; a redelivered
 * registration is left out of the result. The staff member who registered the person at the desk
 * has seen them: the record starts verified by them.
 */
export async function createWalkInPatients(tx: Db, arrivals: readonly WalkInArrival[]): Promise<Map<string, Created>> {
  if (arrivals.length === 0) return new Map();
  const rows = await tx
    .insert(patients)
    .values(
      arrivals.map(({ registrationId, walkIn, registeredBy }) => ({
        registrationId,
        firstName: walkIn.firstName,
        lastName: walkIn.lastName,
        nameKey: nameKey(walkIn.firstName, walkIn.lastName),
        dateOfBirth: walkIn.dateOfBirth,
        email: walkIn.email,
        phone: walkIn.phone,
        registeredAt: new Date(walkIn.registeredAt),
        identityVerifiedAt: new Date(walkIn.registeredAt),
        identityVerifiedById: registeredBy.id,
        identityVerifiedByName: registeredBy.name,
      })),
    )
    .onConflictDoNothing({ target: patients.registrationId })
    .returning();
  const created = new Map<string, Created>();
  for (const patient of rows) {
    if (patient.registrationId === null) continue; // every row inserted here has one
    created.set(patient.registrationId, {
      patient,
      events: [{ type: 'patient.created', payload: { patientId: patient.id, userId: null } }],
    });
  }
  return created;
}

/**
 * Accepts a walk-in in the caller's transaction: states it in the outbox; the worker creates or
 * queues the patient.
 */
export async function registerWalkIn(tx: Db, input: WalkInInput, by: { registeredBy: string; requestId: string | null }): Promise<string> {
  const { registeredBy, requestId } = by;
  return writeOutbox(
    tx,
    'walk_in.registered',
    {
      firstName: input.firstName,
      lastName: input.lastName,
      dateOfBirth: input.dateOfBirth,
      email: input.email ?? null,
      phone: input.phone ?? null,
      existingPatientId: input.existingPatientId ?? null,
      registeredBy,
      registeredAt: new Date().toISOString(),
    },
    requestId,
  );
}

/**
 * Staff confirmed at the desk that the person is who the record says. Verifying a verified record
 * changes nothing and states nothing; the first verifier stays on record.
 */
export async function verifyIdentity(tx: Db, patientId: string, by: StaffRef): Promise<{ patient: PatientRow; events: DomainEvent[] }> {
  const [verified] = await tx
    .update(patients)
    .set({ identityVerifiedAt: new Date(), identityVerifiedById: by.id, identityVerifiedByName: by.name })
    .where(and(eq(patients.id, patientId), isNull(patients.identityVerifiedAt)))
    .returning();
  if (verified) return { patient: verified, events: [{ type: 'patient.identity_verified', payload: { patientId, by } }] };
  const patient = await findPatient(tx, patientId);
  if (!patient) throw new AppError('NOT_FOUND', 'No such patient');
  return { patient, events: [] };
}

/** Staff found the possible duplicate to be a different person; returns false if there was none. */
export async function dismissPossibleDuplicate(tx: Db, patientId: string): Promise<boolean> {
  const cleared = await tx
    .update(patients)
    .set({ possibleDuplicateOf: null })
    .where(and(eq(patients.id, patientId), isNotNull(patients.possibleDuplicateOf)))
    .returning({ id: patients.id });
  return cleared.length > 0;
}

export async function findPatient(db: Db, id: string): Promise<PatientRow | undefined> {
  const [row] = await db.select().from(patients).where(eq(patients.id, id));
  return row;
}

export async function findPatientByUserId(db: Db, userId: string): Promise<PatientRow | undefined> {
  const [row] = await db.select().from(patients).where(eq(patients.userId, userId));
  return row;
}

/** How a record's identity stands, as staff and the owner see it. */
export function identityOf(row: PatientRow): Identity {
  return {
    verified: row.identityVerifiedAt !== null,
    verifiedAt: row.identityVerifiedAt?.toISOString() ?? null,
    verifiedBy: row.identityVerifiedByName,
    selfRegistered: row.userId !== null,
  };
}
