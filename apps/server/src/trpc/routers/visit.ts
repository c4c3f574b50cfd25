import { setTimeout as delay } from 'node:timers/promises';
import { visitSchema, type Visit } from '@phos/shared';
import type { Db } from '../../db/client.js';
import { headEventId } from '../../events/log.js';
import { streamEvents } from '../../events/stream.js';
import { findPatientByUserId } from '../../patients/patients.js';
import { registrationDelayedAt } from '../../patients/pending.js';
import { latestEntryForPatient } from '../../queue/entries.js';
import { placeInQueue } from '../../queue/waitEstimate.js';
import { auditRead, ownPatient, patientsInOutput } from '../auditTrail.js';
import { patientProcedure, router } from '../trpc.js';

interface VisitNow {
  visit: Visit;
  /** When a visit still at `received` turns delayed, if it has not yet: no event marks that moment. */
  delayedAt: Date | null;
}

async function visitNow(db: Db, userId: string): Promise<VisitNow> {
  const none = { position: null, estimatedWaitMinutes: null, clinicianName: null, roomName: null };
  const patient = await findPatientByUserId(db, userId);
  if (!patient) {
    const delayedAt = await registrationDelayedAt(db, userId);
    const delayed = delayedAt !== null && delayedAt.getTime() <= Date.now();
    return { visit: { stage: 'received', patientId: null, ...none, delayed }, delayedAt: delayed ? null : delayedAt };
  }
  const entry = await latestEntryForPatient(db, patient.id);
  if (!entry) return { visit: { stage: 'ready', patientId: patient.id, ...none }, delayedAt: null };
  const waiting = entry.status === 'waiting' || entry.status === 'in_triage';
  const place = waiting ? await placeInQueue(db, entry) : null;
  return {
    visit: {
      stage: entry.status,
      patientId: patient.id,
      position: place?.position ?? null,
      estimatedWaitMinutes: place?.estimatedWaitMinutes ?? null,
      clinicianName: entry.status === 'with_clinician' ? (entry.clinician?.name ?? null) : null,
      roomName: entry.status === 'with_clinician' ? (entry.room?.name ?? null) : null,
    },
    delayedAt: null,
  };
}

/** The stream's next item, or 'due' once `at` has passed, whichever comes first. */
async function nextOrDue<T>(next: Promise<T>, at: Date | null): Promise<T | 'due'> {
  if (at === null) return next;
  const timer = new AbortController();
  try {
    return await Promise.race([next, delay(Math.max(0, at.getTime() - Date.now()), 'due' as const, { signal: timer.signal })]);
  } finally {
    timer.abort();
  }
}

export const visitRouter = router({
  /** The signed-in Patient's own visit. */
  mine: patientProcedure
    .meta(auditRead(patientsInOutput(({ patientId }: Visit) => (patientId ? [patientId] : []))))
    .output(visitSchema)
    .query(async ({ ctx }) => (await visitNow(ctx.db, ctx.user.id)).visit),

  /** The same, live: the current state, then a new one whenever the queue moves in a way that changes it. */
  onMine: patientProcedure.meta(auditRead(ownPatient)).subscription(async function* ({ ctx, signal }) {
    // The head before the first read: every change after that read is in the stream.
    const changes = streamEvents(ctx.db, ctx.services.hub, (await headEventId(ctx.db)).toString(), signal)[Symbol.asyncIterator]();
    // Read by hand, to wake at the moment a registration turns delayed as well as on events.
    const advance = () => {
      const next = changes.next();
      next.catch(() => undefined); // handled where it is awaited; never an unhandled rejection meanwhile
      return next;
    };
    try {
      let now = await visitNow(ctx.db, ctx.user.id);
      yield now.visit;
      let pending = advance();
      for (;;) {
        const next = await nextOrDue(pending, now.delayedAt);
        if (next !== 'due') {
          if (next.done) return;
          pending = advance();
          if (!next.value.type.startsWith('queue.') && next.value.type !== 'patient.created') continue;
        }
        const last = now;
        now = await visitNow(ctx.db, ctx.user.id);
        if (JSON.stringify(now.visit) === JSON.stringify(last.visit)) continue;
        yield now.visit;
      }
    } finally {
      changes.return(undefined).catch(() => undefined);
    }
  }),
});
