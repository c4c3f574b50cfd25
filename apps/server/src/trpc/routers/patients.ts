import {
  findMatchesInput,
  journeySchema,
  patientByIdInput,
  patientMatchSchema,
  patientSchema,
  eventIdSchema,
  staffRoles,
  walkInInput,
} from '@phos/shared';
import { tracked } from '@trpc/server';
import { z } from 'zod';
import { appendEvents, type LoggedEvent } from '../../events/log.js';
import { streamEvents } from '../../events/stream.js';
import { AppError } from '../../errors.js';
import { dismissPossibleDuplicate, findMatches, findPatient, identityOf, registerWalkIn } from '../../patients/patients.js';
import { activeEntryForPatient, dismissDuplicateFlag, journeyOfPatient, latestEntryForPatient } from '../../queue/queue.js';
import { staffRef } from '../staff.js';
import { authedProcedure, providerProcedure, router } from '../trpc.js';

/** The patient an event is about, if it is about one. */
export function patientOf(event: LoggedEvent): string | null {
  switch (event.type) {
    case 'patient.created':
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

export const patientsRouter = router({
  /** Staff read any patient; a Patient reads only their own record. */
  byId: authedProcedure
    .input(patientByIdInput)
    .output(patientSchema)
    .query(async ({ ctx, input }) => {
      const patient = await findPatient(ctx.db, input.id);
      const isStaff = staffRoles.includes(ctx.user.role);
      if (!isStaff && (ctx.user.role !== 'Patient' || patient?.userId !== ctx.user.id)) {
        throw new AppError('FORBIDDEN');
      }
      if (!patient) throw new AppError('NOT_FOUND', 'No such patient');
      const entry = await latestEntryForPatient(ctx.db, patient.id);
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
        possibleDuplicateOf: isStaff ? patient.possibleDuplicateOf : null,
        identity: identityOf(patient),
      };
    }),

  /** The queue journey: every visit with its transitions and triage history. Staff only. */
  journey: providerProcedure
    .input(patientByIdInput)
    .output(journeySchema)
    .query(async ({ ctx, input }) => ({ visits: await journeyOfPatient(ctx.db, input.id) })),

  /** Staff reviewed a flagged registration: a different person, so the flag goes everywhere. */
  dismissDuplicate: providerProcedure
    .input(patientByIdInput)
    .output(z.object({ ok: z.literal(true) }))
    .mutation(async ({ ctx, input }) => {
      const by = staffRef(ctx.user);
      const lastEventId = await ctx.db.transaction(async (tx) => {
        if (!(await dismissPossibleDuplicate(tx, input.id))) {
          throw new AppError('NOT_FOUND', 'This patient is not flagged as a possible duplicate');
        }
        const changes = await dismissDuplicateFlag(tx, input.id, by);
        const events = changes.flatMap((change) => change.events);
        return events.length > 0 ? appendEvents(tx, events) : null;
      });
      if (lastEventId !== null) ctx.services.announce(lastEventId);
      return { ok: true as const };
    }),

  /** Likely existing records for a person staff are about to register. */
  findMatches: providerProcedure
    .input(findMatchesInput)
    .output(z.object({ matches: z.array(patientMatchSchema) }))
    .query(async ({ ctx, input }) => ({ matches: await findMatches(ctx.db, input) })),

  /**
   * Registers a walk-in through the same outbox → job → worker path as self-registration, with
   * no account. With `existingPatientId` the existing patient is queued instead of duplicated.
   */
  registerWalkIn: providerProcedure
    .input(walkInInput)
    .output(z.object({ registrationId: z.uuid() }))
    .mutation(async ({ ctx, input }) => {
      if (input.existingPatientId) {
        const existing = await findPatient(ctx.db, input.existingPatientId);
        if (!existing) throw new AppError('NOT_FOUND', 'No such patient');
        if (await activeEntryForPatient(ctx.db, existing.id)) {
          throw new AppError('ALREADY_QUEUED', `${existing.firstName} ${existing.lastName} is already in the queue`);
        }
      }
      const registrationId = await registerWalkIn(ctx.db, input, ctx.user.id);
      ctx.services.kickRelay();
      ctx.log.info({ registrationId, by: ctx.user.id }, 'walk-in registered');
      return { registrationId };
    }),

  /**
   * A signal whenever something about this patient changes (queue journey, triage, care plans),
   * resumable like the queue stream; the page refetches what the signal names.
   */
  onChange: providerProcedure
    .input(patientByIdInput.extend({ lastEventId: eventIdSchema.nullish() }))
    .subscription(async function* ({ ctx, input, signal }) {
      for await (const event of streamEvents(ctx.db, ctx.services.hub, input.lastEventId, signal)) {
        const patientId = patientOf(event);
        if (patientId === input.id) yield tracked(event.id.toString(), { type: event.type });
      }
    }),
});
