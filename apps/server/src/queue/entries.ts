import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { activeStatuses, type QueueEntry, type StaffRef } from '@phos/shared';
import type { Db } from '../db/client.js';
import { queueEntries } from './schema.js';

export type QueueEntryRow = typeof queueEntries.$inferSelect;

export function ref(id: string | null, name: string | null): StaffRef | null {
  return id !== null && name !== null ? { id, name } : null;
}

export function toQueueEntry(row: QueueEntryRow): QueueEntry {
  return {
    id: row.id,
    patientId: row.patientId,
    firstName: row.firstName,
    lastName: row.lastName,
    dateOfBirth: row.dateOfBirth,
    status: row.status,
    arrivedAt: row.arrivedAt.toISOString(),
    statusChangedAt: row.statusChangedAt.toISOString(),
    acuity: row.acuity,
    clinician: ref(row.clinicianId, row.clinicianName),
    room: ref(row.roomId, row.roomName),
    possibleDuplicate: row.possibleDuplicate,
    version: row.version,
  };
}

/** Entries still in the clinic: most acute first, then who came first. */
export async function listActiveEntries(db: Db): Promise<QueueEntry[]> {
  const rows = await db
    .select()
    .from(queueEntries)
    .where(inArray(queueEntries.status, [...activeStatuses]))
    .orderBy(sql`${queueEntries.acuity} asc nulls last`, asc(queueEntries.arrivedAt), asc(queueEntries.id));
  return rows.map(toQueueEntry);
}

/** The patient's entry still in the clinic, if any. */
export async function activeEntryForPatient(db: Db, patientId: string): Promise<QueueEntry | undefined> {
  const [row] = await db
    .select()
    .from(queueEntries)
    .where(and(eq(queueEntries.patientId, patientId), inArray(queueEntries.status, [...activeStatuses])))
    .limit(1);
  return row ? toQueueEntry(row) : undefined;
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

/** The entry by id, whatever its status; the audit trail uses it to name the patient a refused move was about. */
export async function findEntry(db: Db, entryId: string): Promise<QueueEntry | undefined> {
  const [row] = await db.select().from(queueEntries).where(eq(queueEntries.id, entryId));
  return row ? toQueueEntry(row) : undefined;
}
