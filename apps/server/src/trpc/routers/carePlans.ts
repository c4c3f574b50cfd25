import { approveCarePlanInput, carePlanSchema, draftCarePlanInput, patientByIdInput, rejectCarePlanInput } from '@phos/shared';
import { z } from 'zod';
import { approveCarePlan, carePlansOfPatient, draftCarePlan, rejectCarePlan } from '../../careplans/careplans.js';
import { commitWithEvents, headEventId } from '../../events/log.js';
import { streamEvents } from '../../events/stream.js';
import { AppError } from '../../errors.js';
import { findPatient, findPatientByUserId } from '../../patients/patients.js';
import { staffRef } from '../staff.js';
import { patientProcedure, providerProcedure, router } from '../trpc.js';

const planOutput = z.object({ plan: carePlanSchema });
const plansOutput = z.object({ plans: z.array(carePlanSchema) });

export const carePlansRouter = router({
  /** Every plan of a patient, newest first: drafts, active, rejected and replaced. Staff only. */
  forPatient: providerProcedure
    .input(patientByIdInput)
    .output(plansOutput)
    .query(async ({ ctx, input }) => ({ plans: await carePlansOfPatient(ctx.db, input.id) })),

  /** The signed-in Patient's active care plans. */
  mine: patientProcedure.output(plansOutput).query(async ({ ctx }) => {
    const patient = await findPatientByUserId(ctx.db, ctx.user.id);
    return { plans: patient ? await carePlansOfPatient(ctx.db, patient.id, { activeOnly: true }) : [] };
  }),

  draft: providerProcedure
    .input(draftCarePlanInput)
    .output(planOutput)
    .mutation(async ({ ctx, input }) => {
      if (!(await findPatient(ctx.db, input.patientId))) throw new AppError('NOT_FOUND', 'No such patient');
      const { result, lastEventId } = await commitWithEvents(ctx.db, (tx) => draftCarePlan(tx, input, staffRef(ctx.user)));
      ctx.services.announce(lastEventId);
      return { plan: result.plan };
    }),

  approve: providerProcedure
    .input(approveCarePlanInput)
    .output(planOutput)
    .mutation(async ({ ctx, input }) => {
      const { result, lastEventId } = await commitWithEvents(ctx.db, (tx) =>
        approveCarePlan(tx, input.planId, staffRef(ctx.user)),
      );
      ctx.services.announce(lastEventId);
      return { plan: result.plan };
    }),

  reject: providerProcedure
    .input(rejectCarePlanInput)
    .output(planOutput)
    .mutation(async ({ ctx, input }) => {
      const { result, lastEventId } = await commitWithEvents(ctx.db, (tx) =>
        rejectCarePlan(tx, input.planId, input.reason, staffRef(ctx.user)),
      );
      ctx.services.announce(lastEventId);
      return { plan: result.plan };
    }),

  /** Tells the signed-in Patient when one of their care plans becomes active or is replaced. */
  onMine: patientProcedure.subscription(async function* ({ ctx, signal }) {
    const since = (await headEventId(ctx.db)).toString();
    for await (const event of streamEvents(ctx.db, ctx.services.hub, since, signal)) {
      if (event.type !== 'careplan.approved') continue;
      const patient = await findPatientByUserId(ctx.db, ctx.user.id);
      if (patient?.id === event.payload.plan.patientId) yield { planId: event.payload.plan.id };
    }
  }),
});
