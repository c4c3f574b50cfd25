import { visitSchema, type Visit } from '@phos/shared';
import type { Db } from '../../db/client.js';
import { headEventId } from '../../events/log.js';
import { streamEvents } from '../../events/stream.js';
import { findPatientByUserId } from '../../patients/patients.js';
import { latestEntryForPatient, placeInQueue } from '../../queue/queue.js';
import { auditRead, ownPatient, patientsInOutput } from '../auditTrail.js';
import { patientProcedure, router } from '../trpc.js';

async function visitOf(db: Db, userId: string): Promise<Visit> {
  const none = { position: null, estimatedWaitMinutes: null, clinicianName: null, roomName: null };
  const patient = await findPatientByUserId(db, userId);
  if (!patient) return { stage: 'received', patientId: null, ...none };
  const entry = await latestEntryForPatient(db, patient.id);
  if (!entry) return { stage: 'ready', patientId: patient.id, ...none };
  const waiting = entry.status === 'waiting' || entry.status === 'in_triage';
  const place = waiting ? await placeInQueue(db, entry) : null;
  return {
    stage: entry.status,
    patientId: patient.id,
    position: place?.position ?? null,
    estimatedWaitMinutes: place?.estimatedWaitMinutes ?? null,
    clinicianName: entry.status === 'with_clinician' ? (entry.clinician?.name ?? null) : null,
    roomName: entry.status === 'with_clinician' ? (entry.room?.name ?? null) : null,
  };
}

export const visitRouter = router({
  /** The signed-in Patient's own visit. */
  mine: patientProcedure
    .meta(auditRead(patientsInOutput(({ patientId }: Visit) => (patientId ? [patientId] : []))))
    .output(visitSchema)
    .query(({ ctx }) => visitOf(ctx.db, ctx.user.id)),

  /** The same, live: the current state, then a new one whenever the queue moves in a way that changes it. */
  onMine: patientProcedure.meta(auditRead(ownPatient)).subscription(async function* ({ ctx, signal }) {
    // The head before the first read: every change after that read is in the stream.
    const changes = streamEvents(ctx.db, ctx.services.hub, (await headEventId(ctx.db)).toString(), signal);
    let last = await visitOf(ctx.db, ctx.user.id);
    yield last;
    for await (const event of changes) {
      if (!event.type.startsWith('queue.') && event.type !== 'patient.created') continue;
      const next = await visitOf(ctx.db, ctx.user.id);
      if (JSON.stringify(next) === JSON.stringify(last)) continue;
      last = next;
      yield next;
    }
  }),
});
