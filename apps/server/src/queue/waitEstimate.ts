import { and, desc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { queueEntries, queueTransitions } from './schema.js';

/** The statuses of patients still in line to be seen. */
const inLine = ['waiting', 'in_triage'] as const;

/**
 * Place in line: 1 plus the entries in line more acute (no acuity counts as least acute), or as
 * acute and arrived earlier. `rank()` gives ties the same place, as counting those ahead does.
 */
export const placeInLine = sql<number>`(rank() over (order by coalesce(${queueEntries.acuity}, 6), ${queueEntries.arrivedAt}))::int`;

/** Every entry in line with its place; the one definition of the order, for one patient or the whole queue. */
function rankedLine(db: Db) {
  return db
    .select({ id: queueEntries.id, position: placeInLine.as('position') })
    .from(queueEntries)
    .where(inArray(queueEntries.status, [...inLine]));
}

/** How fast the line moves: clinicians seeing patients now, and minutes a consultation takes. */
export interface QueuePace {
  busyClinicians: number;
  averageConsultMinutes: number;
}

/** Minutes a consultation takes, from the last 20 finished ones; 15 when there are none. */
async function averageConsultMinutes(db: Db): Promise<number> {
  const recent = await db
    .select({ at: queueTransitions.at, previous: queueTransitions.previous })
    .from(queueTransitions)
    .where(
      and(
        eq(queueTransitions.kind, 'transition'),
        eq(queueTransitions.fromStatus, 'with_clinician'),
        eq(queueTransitions.toStatus, 'done'),
        isNull(queueTransitions.undoneAt),
      ),
    )
    .orderBy(desc(queueTransitions.at))
    .limit(20);
  const minutes = recent.map((row) => (row.at.getTime() - Date.parse(row.previous.statusChangedAt)) / 60_000);
  const average = minutes.reduce((sum, value) => sum + value, 0) / minutes.length;
  return Number.isFinite(average) && average > 0 ? average : 15;
}

/** The queue's pace, read once however many places it is applied to. */
export async function queuePace(db: Db): Promise<QueuePace> {
  const [busy] = await db
    .select({ n: sql<number>`count(distinct ${queueEntries.clinicianId})::int` })
    .from(queueEntries)
    .where(eq(queueEntries.status, 'with_clinician'));
  return { busyClinicians: busy?.n ?? 0, averageConsultMinutes: await averageConsultMinutes(db) };
}

/** Minutes until a patient at `position` is seen: those ahead, shared among the clinicians at work (at least one). */
export function estimateWait(position: number, pace: QueuePace): number {
  return Math.round(((position - 1) * pace.averageConsultMinutes) / Math.max(1, pace.busyClinicians));
}

/**
 * Where the entry stands in the line to be seen: its position among patients not yet with a
 * clinician (most acute first, then arrival) and an estimate from recent consultation times
 * and the clinicians currently seeing patients. Null when the entry is not in line.
 */
export async function placeInQueue(db: Db, entryId: string): Promise<{ position: number; estimatedWaitMinutes: number } | null> {
  const ranked = rankedLine(db).as('ranked');
  const [row] = await db.select({ position: ranked.position }).from(ranked).where(eq(ranked.id, entryId));
  if (!row) return null;
  return { position: row.position, estimatedWaitMinutes: estimateWait(row.position, await queuePace(db)) };
}
