import {
  findMatchesInput,
  journeySchema,
  patientByIdInput,
  patientMatchSchema,
  patientSchema,
  eventIdSchema,
  staffRoles,
  walkInInput,
  type Patient,
  type PatientMatch,
} from '@phos/shared';
import { tracked } from '@trpc/server';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { commitAndAnnounce, type LoggedEvent } from '../../events/log.js';
import { streamEvents } from '../../events/stream.js';
import { AppError } from '../../errors.js';
import {
  dismissPossibleDuplicate,
  findMatches,
  findPatient,
  identityOf,
  registerWalkIn,
  verifyIdentity,
  type PatientRow,
} from '../../patients/patients.js';
import { activeEntryForPatient, latestEntryForPatient } from '../../queue/entries.js';
import { journeyOfPatient } from '../../queue/journey.js';
import { dismissDuplicateFlag } from '../../queue/transitions.js';
import { auditRead, auditWrite, patientInInput, patientsInOutput } from '../auditTrail.js';
import { staffRef } from '../staff.js';
import { authedProcedure, providerProcedure, router } from '../trpc.js';

/** The patient an event is about, if it is about one. */
export function patientOf(event: LoggedEvent): string | null {
  switch (event.type) {
    case 'patient.created':
    case 'patient.identity_verified':
      return event.payload.patientId;
    case 'queue.entry.added':
    case 'queue.entry.updated':
    case 'queue.entry.overdue':
      return event.payload.entry.patientId;
    case 'careplan.drafted':
    case 'careplan.approved':
    case 'careplan.rejected':
      return event.payload.plan.patientId;
    case 'notifications.created':
      return null;
  }
}

/** A patient record as its reader may see it: demographics and queue status, no clinical content. */
async function patientView(db: Db, patient: PatientRow, readByStaff: boolean): Promise<Patient> {
  const entry = await latestEntryForPatient(db, patient.id);
  return {
    id: patient.id,
    firstName: patient.firstName,
    lastName: patient.lastName,
    dateOfBirth: patient.dateOfBirth,
    email: patient.email,
    phone: patient.phone,
    registeredAt: patient.registeredAt.toISOString(),
    queueStatus: entry?.status ?? null,
    // A registrant is never told their registration looked like someone else's.
    possibleDuplicateOf: readByStaff ? patient.possibleDuplicateOf : null,
    identity: identityOf(patient),
  };
}

export const patientsRouter = router({
  /** Staff read any patient; a Patient reads only their own record. */
  byId: authedProcedure
    .meta(auditRead(patientInInput('id')))
    .input(patientByIdInput)
    .output(patientSchema)
    .query(async ({ ctx, input }) => {
      const patient = await findPatient(ctx.db, input.id);
      const isStaff = staffRoles.includes(ctx.user.role);
      if (!isStaff && (ctx.user.role !== 'Patient' || patient?.userId !== ctx.user.id)) {
        throw new AppError('FORBIDDEN');
      }
      if (!patient) throw new AppError('NOT_FOUND', 'No such patient');
      return patientView(ctx.db, patient, isStaff);
    }),

  /**
   * Staff confirmed at the desk that the person is who the record says (an identity document,
   * and for a self-registered record, that they hold its account). Until then its owner sees no
   * clinical content and no walk-in is queued on it.
   */
  verifyIdentity: providerProcedure
    .meta(auditWrite(patientInInput('id')))
    .input(patientByIdInput)
    .output(patientSchema)
    .mutation(async ({ ctx, input }) => {
      const { patient } = await commitAndAnnounce(
        ctx.services,
        async (tx) => {
          const verified = await verifyIdentity(tx, input.id, staffRef(ctx.user));
          await ctx.audit.record(tx, { patientIds: [verified.patient.id], detail: { alreadyVerified: verified.events.length === 0 } });
          return verified;
        },
        ctx.eventMeta,
      );
      return patientView(ctx.db, patient, true);
    }),

  /** The queue journey: every visit with its transitions and triage history. Staff only. */
  journey: providerProcedure
    .meta(auditRead(patientInInput('id')))
    .input(patientByIdInput)
    .output(journeySchema)
    .query(async ({ ctx, input }) => ({ visits: await journeyOfPatient(ctx.db, input.id) })),

  /** Staff reviewed a flagged registration: a different person, so the flag goes everywhere. */
  dismissDuplicate: providerProcedure
    .meta(auditWrite(patientInInput('id')))
    .input(patientByIdInput)
    .output(z.object({ ok: z.literal(true) }))
    .mutation(async ({ ctx, input }) => {
      const by = staffRef(ctx.user);
      await commitAndAnnounce(
        ctx.services,
        async (tx) => {
          if (!(await dismissPossibleDuplicate(tx, input.id))) {
            throw new AppError('NOT_FOUND', 'This patient is not flagged as a possible duplicate');
          }
          await ctx.audit.record(tx, { patientIds: [input.id] });
          const changes = await dismissDuplicateFlag(tx, input.id, by);
          return { events: changes.flatMap((change) => change.events) };
        },
        ctx.eventMeta,
      );
      return { ok: true as const };
    }),

  /** Likely existing records for a person staff are about to register. */
  findMatches: providerProcedure
    .meta(auditRead(patientsInOutput(({ matches }: { matches: PatientMatch[] }) => matches.map((match) => match.id))))
    .input(findMatchesInput)
    .output(z.object({ matches: z.array(patientMatchSchema) }))
    .query(async ({ ctx, input }) => ({ matches: await findMatches(ctx.db, input) })),

  /**
   * Registers a walk-in through the same outbox → job → worker path as self-registration, with
   * no account. With `existingPatientId` the existing patient is queued instead of duplicated,
   * once staff have confirmed that the person is who that record says.
   */
  registerWalkIn: providerProcedure
    .meta(auditWrite(patientInInput('existingPatientId')))
    .input(walkInInput)
    .output(z.object({ registrationId: z.uuid() }))
    .mutation(async ({ ctx, input }) => {
      if (input.existingPatientId) {
        const existing = await findPatient(ctx.db, input.existingPatientId);
        if (!existing) throw new AppError('NOT_FOUND', 'No such patient');
        // A self-registered record may be anyone's claim to the name: queuing the real person's
        // visit on it would hand its account their care plans.
        if (!existing.identityVerifiedAt) throw new AppError('IDENTITY_NOT_VERIFIED');
        if (await activeEntryForPatient(ctx.db, existing.id)) {
          throw new AppError('ALREADY_QUEUED', `${existing.firstName} ${existing.lastName} is already in the queue`);
        }
      }
      const registrationId = await ctx.db.transaction(async (tx) => {
        const registrationId = await registerWalkIn(tx, input, { registeredBy: ctx.user.id, requestId: ctx.requestId });
        await ctx.audit.record(tx, { patientIds: input.existingPatientId ? [input.existingPatientId] : [], detail: { registrationId } });
        return registrationId;
      });
      ctx.services.kickRelay();
      ctx.log.info({ registrationId, by: ctx.user.id }, 'walk-in registered');
      return { registrationId };
    }),

  /**
   * A signal whenever something about this patient changes (queue journey, triage, care plans),
   * resumable like the queue stream; the page refetches what the signal names.
   */
  onChange: providerProcedure
    .meta(auditRead(patientInInput('id')))
    .input(patientByIdInput.extend({ lastEventId: eventIdSchema.nullish() }))
    .subscription(async function* ({ ctx, input, signal }) {
      for await (const event of streamEvents(ctx.db, ctx.services.hub, input.lastEventId, signal)) {
        const patientId = patientOf(event);
        if (patientId === input.id) yield tracked(event.id.toString(), { type: event.type });
      }
    }),
});
