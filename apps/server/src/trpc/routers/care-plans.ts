import {
  approveCarePlanInput,
  carePlanSchema,
  draftCarePlanInput,
  myCarePlansOutput,
  patientByIdInput,
  rejectCarePlanInput,
  type CarePlan,
} from '@phos/shared';
import { z } from 'zod';
import { approveCarePlan, carePlansOfPatient, draftCarePlan, findCarePlan, rejectCarePlan } from '../../care-plans/care-plans.js';
import type { Db } from '../../db/client.js';
import { commitAndAnnounce, headEventId } from '../../events/log.js';
import { streamEvents } from '../../events/stream.js';
import { AppError } from '../../errors.js';
import { findPatient, findPatientByUserId } from '../../patients/patients.js';
import { auditRead, auditWrite, idInInput, ownPatient, patientInInput, type AboutCall } from '../auditTrail.js';
import { staffRef } from '../staff.js';
import { clinicianProcedure, patientProcedure, providerProcedure, router } from '../trpc.js';

/** The caller's patient record as a stream follows it: none yet, or its id and whether staff have verified it. */
async function patientOfCaller(db: Db, userId: string): Promise<{ id: string | null; verified: boolean }> {
  const patient = await findPatientByUserId(db, userId);
  return { id: patient?.id ?? null, verified: Boolean(patient?.identityVerifiedAt) };
}

const planOutput = z.object({ plan: carePlanSchema });
const plansOutput = z.object({ plans: z.array(carePlanSchema) });

/** What a care plan's audit row names: its patient, and the plan in the detail. */
function aboutPlan(plan: CarePlan) {
  return { patientIds: [plan.patientId], detail: { planId: plan.id } };
}

/** The same for a refused signature (an Admin's, or the drafter's own), so the patient's trail shows it. */
const planInInput: AboutCall = async ({ ctx, input }) => {
  const planId = idInInput(input, 'planId');
  const plan = planId ? await findCarePlan(ctx.db, planId) : undefined;
  return plan ? aboutPlan(plan) : { patientIds: [] };
};

export const carePlansRouter = router({
  /** Every plan of a patient, newest first: drafts, active, rejected and replaced. Staff only. */
  forPatient: providerProcedure
    .meta(auditRead(patientInInput('id')))
    .input(patientByIdInput)
    .output(plansOutput)
    .query(async ({ ctx, input }) => ({ plans: await carePlansOfPatient(ctx.db, input.id) })),

  /**
   * The signed-in Patient's active care plans: none until staff have confirmed their identity, so
   * a stranger who pre-registered in someone's name never reads that person's plans.
   */
  mine: patientProcedure
    .meta(auditRead(ownPatient))
    .output(myCarePlansOutput)
    .query(async ({ ctx }) => {
      const patient = await findPatientByUserId(ctx.db, ctx.user.id);
      if (!patient?.identityVerifiedAt) return { plans: [], identityVerified: false };
      return { plans: await carePlansOfPatient(ctx.db, patient.id, { activeOnly: true }), identityVerified: true };
    }),

  draft: providerProcedure
    .meta(auditWrite(patientInInput('patientId')))
    .input(draftCarePlanInput)
    .output(planOutput)
    .mutation(async ({ ctx, input }) => {
      if (!(await findPatient(ctx.db, input.patientId))) throw new AppError('NOT_FOUND', 'No such patient');
      const { plan } = await commitAndAnnounce(
        ctx.services,
        async (tx) => {
          const change = await draftCarePlan(tx, input, staffRef(ctx.user));
          await ctx.audit.record(tx, aboutPlan(change.plan));
          return change;
        },
        ctx.eventMeta,
      );
      return { plan };
    }),

  /** The signature: by a Provider other than the drafter (four eyes), never by an Admin. */
  approve: clinicianProcedure
    .meta(auditWrite(planInInput))
    .input(approveCarePlanInput)
    .output(planOutput)
    .mutation(async ({ ctx, input }) => {
      const { plan } = await commitAndAnnounce(
        ctx.services,
        async (tx) => {
          const change = await approveCarePlan(tx, input.planId, staffRef(ctx.user));
          await ctx.audit.record(tx, aboutPlan(change.plan));
          return change;
        },
        ctx.eventMeta,
      );
      return { plan };
    }),

  /** A clinical judgement too, so Providers only; the drafter may withdraw their own draft this way. */
  reject: clinicianProcedure
    .meta(auditWrite(planInInput))
    .input(rejectCarePlanInput)
    .output(planOutput)
    .mutation(async ({ ctx, input }) => {
      const { plan } = await commitAndAnnounce(
        ctx.services,
        async (tx) => {
          const change = await rejectCarePlan(tx, input.planId, input.reason, staffRef(ctx.user));
          await ctx.audit.record(tx, aboutPlan(change.plan));
          return change;
        },
        ctx.eventMeta,
      );
      return { plan };
    }),

  /**
   * Tells the signed-in Patient when one of their care plans becomes active or is replaced, or
   * when staff confirm their identity and their plans become readable. Nothing while unverified.
   * The caller's record is read once, at the start, and followed through its events
   * from there (a record's owner never changes, and verification is never undone); it is read
   * again only while the caller has none yet, when a patient is created for them.
   */
  onMine: patientProcedure.meta(auditRead(ownPatient)).subscription(async function* ({ ctx, signal }) {
    const since = (await headEventId(ctx.db)).toString();
    // Read after `since`: whatever happens to the record from there is replayed below.
    let mine = await patientOfCaller(ctx.db, ctx.user.id);
    for await (const event of streamEvents(ctx.db, ctx.services.hub, since, signal)) {
      if (event.type === 'patient.created' && !mine.id && event.payload.userId === ctx.user.id) {
        mine = await patientOfCaller(ctx.db, ctx.user.id);
      } else if (event.type === 'patient.identity_verified' && event.payload.patientId === mine.id) {
        mine = { ...mine, verified: true };
        yield { type: event.type };
      } else if (event.type === 'careplan.approved' && mine.verified && event.payload.plan.patientId === mine.id) {
        yield { type: event.type, planId: event.payload.plan.id };
      }
    }
  }),
});
