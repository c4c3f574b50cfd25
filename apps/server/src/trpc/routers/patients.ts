import { journeySchema, patientByIdInput, patientSchema, staffRoles } from '@phos/shared';
import { AppError } from '../../errors.js';
import { findPatient } from '../../patients/patients.js';
import { journeyOfPatient, latestEntryForPatient } from '../../queue/queue.js';
import { authedProcedure, providerProcedure, router } from '../trpc.js';

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
        registeredAt: patient.registeredAt.toISOString(),
        queueStatus: entry?.status ?? null,
      };
    }),

  /** The queue journey: every visit with its transitions and triage history. Staff only. */
  journey: providerProcedure
    .input(patientByIdInput)
    .output(journeySchema)
    .query(async ({ ctx, input }) => ({ visits: await journeyOfPatient(ctx.db, input.id) })),
});
