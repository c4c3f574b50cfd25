import { and, desc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { QueueEntry } from '@phos/shared';
import type { Db } from '../db/client.js';
import { queueEntries, queueTransitions } from './schema.js';

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

/**
 * Where the entry stands in the line to be seen: its position among patients not yet with a
 * clinician (most acute first, then arrival) and an estimate from recent consultation times
 * and the clinicians currently seeing patients.
 */
export async function placeInQueue(db: Db, entry: QueueEntry): Promise<{ position: number; estimatedWaitMinutes: number }> {
  const acuityRank = sql`coalesce(${queueEntries.acuity}, 6)`;
  const mine = entry.acuity ?? 6;
  const [ahead] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(queueEntries)
    .where(
      and(
        inArray(queueEntries.status, ['waiting', 'in_triage']),
        sql`(${acuityRank} < ${mine} or (${acuityRank} = ${mine} and ${queueEntries.arrivedAt} < ${entry.arrivedAt}))`,
      ),
    );
  const [busy] = await db
    .select({ n: sql<number>`count(distinct ${queueEntries.clinicianId})::int` })
    .from(queueEntries)
    .where(eq(queueEntries.status, 'with_clinician'));
  const position = (ahead?.n ?? 0) + 1;
  const clinicians = Math.max(1, busy?.n ?? 0);
  return { position, estimatedWaitMinutes: Math.round(((position - 1) * (await averageConsultMinutes(db))) / clinicians) };
}
