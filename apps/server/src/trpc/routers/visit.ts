import { setTimeout as delay } from 'node:timers/promises';
import { visitSchema, type Visit } from '@phos/shared';
import type { Db } from '../../db/client.js';
import { findPatientByUserId } from '../../patients/patients.js';
import { registrationDelayedAt } from '../../patients/pending.js';
import { patientVisit, readyVisit, type VisitFields, type VisitSnapshot } from '../../queue/board.js';
import { auditRead, ownPatient, patientsInOutput } from '../auditTrail.js';
import { patientProcedure, router } from '../trpc.js';

/** The longest a change of place or estimate alone waits behind the visit last sent, so a busy queue does not flood a patient. */
export const PLACE_CHANGE_INTERVAL_MS = 3_000;

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

/**
 * The visit a board snapshot gives the user, with no statement of its own. A registrant still
 * without a record finds it among the patients the batch created; a patient the snapshot does not
 * name had nothing change.
 */
function visitFromSnapshot(now: VisitNow, userId: string, snapshot: VisitSnapshot): VisitNow {
  const patientId = now.visit.patientId ?? snapshot.created.get(userId);
  if (patientId === undefined) return now;
  const fields = snapshot.visits.get(patientId) ?? (now.visit.patientId === null ? readyVisit : undefined);
  return fields ? { visit: toVisit(patientId, fields), delayedAt: null } : now;
}

function sameVisit(a: Visit, b: Visit): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Only the place or the estimate moved: news that can wait a little. */
function placeOnly(sent: Visit, now: Visit): boolean {
  return sameVisit({ ...sent, position: now.position, estimatedWaitMinutes: now.estimatedWaitMinutes }, now);
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

function earliest(...times: (number | null)[]): number | null {
  const set = times.filter((time): time is number => time !== null);
  return set.length > 0 ? Math.min(...set) : null;
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
   * place or estimate at most once per PLACE_CHANGE_INTERVAL_MS, the latest one.
   */
  onMine: patientProcedure.meta(auditRead(ownPatient)).subscription(async function* ({ ctx, signal }) {
    const watch = ctx.services.visits.watch(signal);
    const snapshotAfter = (generation: number) => {
      const next = watch.next(generation);
      next.catch(() => undefined); // handled where it is awaited; never an unhandled rejection meanwhile
      return next;
    };
    try {
      let seen = watch.since;
      let now = await visitNow(ctx.db, ctx.user.id);
      yield now.visit;
      let sent = now.visit;
      let sentAt = Date.now();
      let pending = snapshotAfter(seen);
      for (;;) {
        const held = sameVisit(sent, now.visit) ? null : sentAt + PLACE_CHANGE_INTERVAL_MS;
        const next = await nextOrDue(pending, earliest(now.delayedAt?.getTime() ?? null, held));
        if (next === null) return;
        if (next !== 'due') {
          seen = next.generation;
          pending = snapshotAfter(seen);
          now = visitFromSnapshot(now, ctx.user.id, next);
        } else if (now.delayedAt !== null && now.delayedAt.getTime() <= Date.now()) {
          now = await visitNow(ctx.db, ctx.user.id);
        }
        if (sameVisit(sent, now.visit)) continue;
        if (placeOnly(sent, now.visit) && Date.now() < sentAt + PLACE_CHANGE_INTERVAL_MS) continue;
        yield now.visit;
        sent = now.visit;
        sentAt = Date.now();
      }
    } finally {
      watch.close();
    }
  }),
});
