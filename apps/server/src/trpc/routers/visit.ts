import { setTimeout as delay } from 'node:timers/promises';
import { visitSchema, type Visit } from '@phos/shared';
import type { Db } from '../../db/client.js';
import { findPatientByUserId } from '../../patients/patients.js';
import { registrationDelayedAt } from '../../patients/pending.js';
import { patientVisit, readyVisit, type VisitFields, type VisitNews } from '../../queue/board.js';
import { auditRead, ownPatient, patientsInOutput } from '../auditTrail.js';
import { patientProcedure, router } from '../trpc.js';

/**
 * How long a change of place or estimate alone waits behind the visit last sent, so a busy queue
 * does not flood a patient: at least PLACE_CHANGE_INTERVAL_MS, and up to PLACE_CHANGE_SPREAD_MS
 * more, at random. Without the spread, every patient in line would get their new place in the same
 * few milliseconds, every interval, for as long as the queue kept moving: thousands of writes in
 * one burst that dashboards and staff calls wait behind.
 */
export const PLACE_CHANGE_INTERVAL_MS = 3_000;
export const PLACE_CHANGE_SPREAD_MS = 2_000;

function placeChangeWait(): number {
  return PLACE_CHANGE_INTERVAL_MS + Math.random() * PLACE_CHANGE_SPREAD_MS;
}

interface VisitNow {
  visit: Visit;
  /** When a visit still at `received` turns delayed, if it has not yet: no event marks that moment. */
  delayedAt: Date | null;
}

/** The same shape, fields in the same order, whichever path computed them. */
function toVisit(patientId: string, fields: VisitFields): Visit {
  const { stage, position, estimatedWaitMinutes, clinicianName, roomName } = fields;
  return { stage, patientId, position, estimatedWaitMinutes, clinicianName, roomName };
}

/** The user's visit read from the database: what `mine` answers, and where a live visit starts. */
async function visitNow(db: Db, userId: string): Promise<VisitNow> {
  const patient = await findPatientByUserId(db, userId);
  if (!patient) {
    const delayedAt = await registrationDelayedAt(db, userId);
    const delayed = delayedAt !== null && delayedAt.getTime() <= Date.now();
    const { stage: _ready, ...none } = readyVisit;
    return { visit: { stage: 'received', patientId: null, ...none, delayed }, delayedAt: delayed ? null : delayedAt };
  }
  return { visit: toVisit(patient.id, await patientVisit(db, patient.id)), delayedAt: null };
}

function sameVisit(a: Visit, b: Visit): boolean {
  return (
    a.stage === b.stage &&
    a.patientId === b.patientId &&
    a.position === b.position &&
    a.estimatedWaitMinutes === b.estimatedWaitMinutes &&
    a.clinicianName === b.clinicianName &&
    a.roomName === b.roomName &&
    a.delayed === b.delayed
  );
}

/** The promise's value, or 'due' once `at` has passed, whichever comes first. */
async function nextOrDue<T>(next: Promise<T>, at: number | null): Promise<T | 'due'> {
  if (at === null) return next;
  const timer = new AbortController();
  try {
    return await Promise.race([next, delay(Math.max(0, at - Date.now()), 'due' as const, { signal: timer.signal })]);
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

  /**
   * The same, live: the current state, then a new one whenever the queue moves in a way that
   * changes it. The process's visit board reads the queue once per batch of events for every
   * watcher (docs/decisions/013-live-visits-fan-out.md); a new stage goes out at once, a new
   * place or estimate at most once every 3 to 5 s (`placeChangeWait`), the latest one.
   */
  onMine: patientProcedure.meta(auditRead(ownPatient)).subscription(async function* ({ ctx, signal }) {
    const watch = ctx.services.visits.watch(signal, ctx.user.id);
    let pending: Promise<VisitNews | null> | null = null;
    try {
      let seen = watch.since;
      let now = await visitNow(ctx.db, ctx.user.id);
      if (now.visit.patientId) watch.follow(now.visit.patientId);
      yield now.visit;
      let sent = now.visit;
      let sentAt = Date.now();
      for (;;) {
        // The board holds a new place or estimate alone until a while after the last visit sent.
        pending ??= watch.next(seen, sent, sentAt + placeChangeWait());
        const next = await nextOrDue(pending, now.delayedAt?.getTime() ?? null);
        if (next === null) return;
        if (next === 'due') {
          now = await visitNow(ctx.db, ctx.user.id);
          if (now.visit.patientId) watch.follow(now.visit.patientId);
        } else {
          pending = null;
          seen = next.generation;
          now = { visit: toVisit(next.patientId, next.fields), delayedAt: null };
        }
        if (sameVisit(sent, now.visit)) continue;
        yield now.visit;
        sent = now.visit;
        sentAt = Date.now();
      }
    } finally {
      pending?.catch(() => undefined); // a rejection after the stream ended is of no interest
      watch.close();
    }
  }),
});
