import { z } from 'zod';
import { carePlanSchema } from './care-plans.js';
import { dateOfBirthSchema, uuidSchema } from './fields.js';
import { notificationSchema } from './notifications.js';
import { queueEntryChangeSchema, queueEntrySchema, staffRefSchema } from './queue.js';
import { roleSchema } from './roles.js';

/**
 * Versioned event contracts. Integration events cross modules through the outbox;
 * domain events are appended to the event log that dashboards replay.
 */
export const userRegisteredV1 = z.object({
  userId: uuidSchema,
  role: roleSchema,
  email: z.string(),
  firstName: z.string(),
  lastName: z.string(),
  dateOfBirth: dateOfBirthSchema.nullable(),
  registeredAt: z.iso.datetime({ offset: true }),
});
export type UserRegisteredV1 = z.infer<typeof userRegisteredV1>;

/** Staff registered a walk-in: a new patient, or an existing one queued again. No account. */
export const walkInRegisteredV1 = z.object({
  firstName: z.string(),
  lastName: z.string(),
  dateOfBirth: dateOfBirthSchema,
  email: z.string().nullable(),
  phone: z.string().nullable(),
  existingPatientId: uuidSchema.nullable(),
  registeredBy: uuidSchema,
  registeredAt: z.iso.datetime({ offset: true }),
});
export type WalkInRegisteredV1 = z.infer<typeof walkInRegisteredV1>;

/**
 * Another system (an EHR, a referral service) sent a Patient over FHIR: a new record, not an
 * arrival. Its identity is the sender's word, not staff's: the record starts unverified.
 */
export const patientSubmittedV1 = z.object({
  firstName: z.string(),
  lastName: z.string(),
  dateOfBirth: dateOfBirthSchema,
  email: z.string().nullable(),
  phone: z.string().nullable(),
  /** The sender's own identifier for the patient, if it gave one. */
  identifier: z.object({ system: z.string(), value: z.string() }).nullable(),
  apiClientId: uuidSchema,
  submittedAt: z.iso.datetime({ offset: true }),
});
export type PatientSubmittedV1 = z.infer<typeof patientSubmittedV1>;

export const integrationEvents = {
  'user.registered': { version: 1, schema: userRegisteredV1 },
  'walk_in.registered': { version: 1, schema: walkInRegisteredV1 },
  'patient.submitted': { version: 1, schema: patientSubmittedV1 },
} as const;
export type IntegrationEventType = keyof typeof integrationEvents;

export const patientCreatedV1 = z.object({ patientId: uuidSchema, userId: uuidSchema.nullable() });
export const queueEntryAdded = z.object({ entry: queueEntrySchema });
export const queueEntryUpdatedV1 = z.object({
  entry: queueEntrySchema,
  change: queueEntryChangeSchema,
  by: staffRefSchema,
});

export const carePlanEventV1 = z.object({ plan: carePlanSchema, by: staffRefSchema });

/** Staff confirmed at the desk that the person is who a (self-registered) record says. */
export const patientIdentityVerifiedV1 = z.object({ patientId: uuidSchema, by: staffRefSchema });

/** A patient still waiting to be seen has passed the target time for their acuity. */
export const queueEntryOverdueV1 = z.object({ entry: queueEntrySchema, targetMinutes: z.number().int() });

export const notificationsCreatedV1 = z.object({
  notifications: z.array(notificationSchema.extend({ userId: uuidSchema })),
});

/**
 * A domain event's contract. Every event is written with its version as major.minor, and a build
 * running beside older and newer ones (a rolling deploy) reads them by this rule:
 *
 * - A minor change only adds fields, each optional or defaulted, so the previous minor's payloads
 *   still parse. Readers accept any minor of the major they know: fields they do not know are
 *   dropped (zod objects strip unknown keys; never make an event schema `.strict()`).
 * - Anything else (a field removed, renamed, retyped or made required) is a new major. Readers
 *   upcast older majors to theirs, and skip a newer major, an unknown type or a payload that does
 *   not parse: logged once with its id, counted, shown to Admins, never a stop of the log.
 */
export interface DomainEventContract {
  /** The major version: what a reader must know to read the payload at all. */
  version: number;
  /** Additive changes within the major. */
  minor: number;
  schema: z.ZodType;
}

export const domainEvents = {
  'patient.created': { version: 1, minor: 0, schema: patientCreatedV1 },
  'patient.identity_verified': { version: 1, minor: 0, schema: patientIdentityVerifiedV1 },
  'queue.entry.added': { version: 2, minor: 0, schema: queueEntryAdded },
  'queue.entry.updated': { version: 1, minor: 0, schema: queueEntryUpdatedV1 },
  'careplan.drafted': { version: 1, minor: 0, schema: carePlanEventV1 },
  'careplan.approved': { version: 1, minor: 0, schema: carePlanEventV1 },
  'careplan.rejected': { version: 1, minor: 0, schema: carePlanEventV1 },
  'queue.entry.overdue': { version: 1, minor: 0, schema: queueEntryOverdueV1 },
  'notifications.created': { version: 1, minor: 0, schema: notificationsCreatedV1 },
} as const satisfies Record<string, DomainEventContract>;
export type DomainEventType = keyof typeof domainEvents;
export type DomainEventPayload<T extends DomainEventType> = z.infer<(typeof domainEvents)[T]['schema']>;

export type DomainEvent = {
  [T in DomainEventType]: { type: T; payload: DomainEventPayload<T> };
}[DomainEventType];

/** An event this build could not read, as an Admin sees it: never its payload, which may hold health data. */
export const unreadableEventSchema = z.object({
  id: z.string(),
  type: z.string(),
  /** As stored, `major.minor`. */
  version: z.string(),
  reason: z.string(),
});
export type UnreadableEventView = z.infer<typeof unreadableEventSchema>;

/** The event log as this api instance reads it. */
export const eventLogStatusSchema = z.object({
  head: z.string(),
  /** Distinct events this process skipped since it started. */
  skipped: z.number().int().nonnegative(),
  /** The most recent ones, newest last. */
  lastSkipped: z.array(unreadableEventSchema),
});
export type EventLogStatus = z.infer<typeof eventLogStatusSchema>;
