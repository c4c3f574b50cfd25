import { and, inArray, isNotNull } from 'drizzle-orm';
import type { AcuityTargets, DomainEvent } from '@phos/shared';
import type { Db } from '../db/client.js';
import { toQueueEntry } from './entries.js';
import { overdueAlerts, queueEntries } from './schema.js';

/**
 * Finds patients still waiting to be seen past the target for their acuity and records one alert
 * each; returns the events for the ones not alerted before. Safe to run from several workers.
 */
export async function flagOverdueEntries(tx: Db, targets: AcuityTargets, now: Date = new Date()): Promise<DomainEvent[]> {
  const waiting = await tx
    .select()
    .from(queueEntries)
    .where(and(inArray(queueEntries.status, ['waiting', 'in_triage']), isNotNull(queueEntries.acuity)));
  const overdue = waiting.filter((row) => row.acuity !== null && row.arrivedAt.getTime() + targets[row.acuity] * 60_000 < now.getTime());
  if (overdue.length === 0) return [];
  const alerted = await tx
    .insert(overdueAlerts)
    .values(overdue.map((row) => ({ entryId: row.id, acuity: row.acuity ?? 5 })))
    .onConflictDoNothing()
    .returning({ entryId: overdueAlerts.entryId });
  const fresh = new Set(alerted.map((alert) => alert.entryId));
  return overdue
    .filter((row) => fresh.has(row.id))
    .map((row) => ({
      type: 'queue.entry.overdue' as const,
      payload: { entry: toQueueEntry(row), targetMinutes: row.acuity === null ? 0 : targets[row.acuity] },
    }));
}
