import { asc, desc, eq, inArray } from 'drizzle-orm';
import type { QueueEntry, TransitionRecord, TriageRecord } from '@phos/shared';
import type { Db } from '../db/client.js';
import { ref, toQueueEntry } from './entries.js';
import { queueEntries, queueTransitions, triageAssessments } from './schema.js';

/** A patient's visits, newest first, each with its transitions and triage history. */
export async function journeyOfPatient(
  db: Db,
  patientId: string,
): Promise<{ entry: QueueEntry; transitions: TransitionRecord[]; triage: TriageRecord[] }[]> {
  const entries = await db.select().from(queueEntries).where(eq(queueEntries.patientId, patientId)).orderBy(desc(queueEntries.arrivedAt));
  if (entries.length === 0) return [];
  const ids = entries.map((entry) => entry.id);
  const [transitions, triage] = await Promise.all([
    db
      .select()
      .from(queueTransitions)
      .where(inArray(queueTransitions.entryId, ids))
      .orderBy(asc(queueTransitions.at), asc(queueTransitions.id)),
    db
      .select()
      .from(triageAssessments)
      .where(inArray(triageAssessments.entryId, ids))
      .orderBy(asc(triageAssessments.at), asc(triageAssessments.id)),
  ]);
  return entries.map((row) => ({
    entry: toQueueEntry(row),
    transitions: transitions
      .filter((t) => t.entryId === row.id)
      .map((t) => ({
        id: t.id,
        kind: t.kind,
        from: t.fromStatus,
        to: t.toStatus,
        by: { id: t.byId, name: t.byName },
        at: t.at.toISOString(),
        clinician: ref(t.clinicianId, t.clinicianName),
        room: ref(t.roomId, t.roomName),
        undoneAt: t.undoneAt?.toISOString() ?? null,
      })),
    triage: triage
      .filter((t) => t.entryId === row.id)
      .map((t) => ({
        id: t.id,
        acuity: t.acuity,
        note: t.note,
        by: { id: t.byId, name: t.byName },
        at: t.at.toISOString(),
      })),
  }));
}
