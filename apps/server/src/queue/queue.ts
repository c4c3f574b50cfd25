import { asc, desc, eq, notInArray } from 'drizzle-orm';
import type { DomainEvent, QueueEntry } from '@phos/shared';
import type { Db } from '../db/client.js';
import { queueEntries } from './schema.js';

type QueueEntryRow = typeof queueEntries.$inferSelect;

export function toQueueEntry(row: QueueEntryRow): QueueEntry {
  return {
    id: row.id,
    patientId: row.patientId,
    firstName: row.firstName,
    lastName: row.lastName,
    dateOfBirth: row.dateOfBirth,
    status: row.status,
    arrivedAt: row.arrivedAt.toISOString(),
  };
}

/** Queues a patient once per registration; a redelivery returns null. */
export async function addToQueue(
  tx: Db,
  arrival: {
    patientId: string;
    registrationId: string;
    firstName: string;
    lastName: string;
    dateOfBirth: string;
    arrivedAt: Date;
  },
): Promise<{ entry: QueueEntry; events: DomainEvent[] } | null> {
  const [row] = await tx
    .insert(queueEntries)
    .values(arrival)
    .onConflictDoNothing({ target: queueEntries.registrationId })
    .returning();
  if (!row) return null;
  const entry = toQueueEntry(row);
  return { entry, events: [{ type: 'queue.entry.added', payload: { entry } }] };
}

/** Entries still in the clinic, oldest first. */
export async function listActiveEntries(db: Db): Promise<QueueEntry[]> {
  const rows = await db
    .select()
    .from(queueEntries)
    .where(notInArray(queueEntries.status, ['done', 'left']))
    .orderBy(asc(queueEntries.arrivedAt), asc(queueEntries.id));
  return rows.map(toQueueEntry);
}

export async function latestEntryForPatient(db: Db, patientId: string): Promise<QueueEntry | undefined> {
  const [row] = await db
    .select()
    .from(queueEntries)
    .where(eq(queueEntries.patientId, patientId))
    .orderBy(desc(queueEntries.arrivedAt))
    .limit(1);
  return row ? toQueueEntry(row) : undefined;
}
