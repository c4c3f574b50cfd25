import { registrationStatusSchema, type RegistrationStatus } from '@phos/shared';
import type { Db } from '../../db/client.js';
import { headEventId } from '../../events/log.js';
import { streamEvents } from '../../events/stream.js';
import { findPatientByUserId } from '../../patients/patients.js';
import { registrationDelayedAt } from '../../patients/pending.js';
import { auditRead, ownPatient, patientsInOutput } from '../auditTrail.js';
import { patientProcedure, router } from '../trpc.js';

async function statusOf(db: Db, userId: string): Promise<RegistrationStatus> {
  const patient = await findPatientByUserId(db, userId);
  if (patient) return { state: 'ready', patientId: patient.id };
  const delayedAt = await registrationDelayedAt(db, userId);
  return { state: 'pending', delayed: delayedAt !== null && delayedAt.getTime() <= Date.now() };
}

/** A self-registered patient's view of their registration: pending until the worker has made their record. */
export const registrantRouter = router({
  status: patientProcedure
    .meta(auditRead(patientsInOutput(({ patientId }: RegistrationStatus) => (patientId ? [patientId] : []))))
    .output(registrationStatusSchema)
    .query(({ ctx }) => statusOf(ctx.db, ctx.user.id)),

  /** Yields the current state, then `ready` the moment the patient record is committed. */
  onStatus: patientProcedure.meta(auditRead(ownPatient)).subscription(async function* ({ ctx, signal }) {
    const changes = streamEvents(ctx.db, ctx.services.hub, (await headEventId(ctx.db)).toString(), signal);
    const initial = await statusOf(ctx.db, ctx.user.id);
    yield initial;
    if (initial.state === 'ready') return;
    for await (const event of changes) {
      if (event.type === 'patient.created' && event.payload.userId === ctx.user.id) {
        yield { state: 'ready', patientId: event.payload.patientId } satisfies RegistrationStatus;
        return;
      }
    }
  }),
});
