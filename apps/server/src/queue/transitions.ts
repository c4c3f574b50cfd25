import { and, desc, eq, inArray, isNull } from 'drizzle-orm';
import {
  activeStatuses,
  canTransition,
  queueStatusLabels,
  type DomainEvent,
  type QueueEntry,
  type QueueStatus,
  type Room,
  type StaffRef,
  type Acuity,
} from '@phos/shared';
import type { Db } from '../db/client.js';
import { AppError } from '../errors.js';
import { ref, toQueueEntry, type QueueEntryRow } from './entries.js';
import { queueEntries, queueTransitions, triageAssessments, type EntrySnapshot } from './schema.js';

/** A patient arriving in the queue, once per registration. */
export interface Arrival {
  patientId: string;
  registrationId: string;
  firstName: string;
  lastName: string;
  dateOfBirth: string;
  arrivedAt: Date;
  possibleDuplicate?: boolean;
}

/** Queues a patient once per registration; a redelivery returns null. */
export async function addToQueue(tx: Db, arrival: Arrival): Promise<{ entry: QueueEntry; events: DomainEvent[] } | null> {
  return (await addManyToQueue(tx, [arrival])).get(arrival.registrationId) ?? null;
}

/** Queues patients once per registration, in one statement, by registration id; redeliveries are left out. */
export async function addManyToQueue(
  tx: Db,
  arrivals: readonly Arrival[],
): Promise<Map<string, { entry: QueueEntry; events: DomainEvent[] }>> {
  if (arrivals.length === 0) return new Map();
  const rows = await tx
    .insert(queueEntries)
    .values(arrivals.map((arrival) => ({ ...arrival, statusChangedAt: arrival.arrivedAt })))
    .onConflictDoNothing({ target: queueEntries.registrationId })
    .returning();
  const added = new Map<string, { entry: QueueEntry; events: DomainEvent[] }>();
  for (const row of rows) {
    if (row.registrationId === null) continue; // every row inserted here has one
    const entry = toQueueEntry(row);
    added.set(row.registrationId, { entry, events: [{ type: 'queue.entry.added', payload: { entry } }] });
  }
  return added;
}

/** Locks the entry for the rest of the transaction and checks the caller saw its latest version. */
async function lockEntry(tx: Db, entryId: string, expectedVersion: number): Promise<QueueEntryRow> {
  const [row] = await tx.select().from(queueEntries).where(eq(queueEntries.id, entryId)).for('update');
  if (!row) throw new AppError('NOT_FOUND', 'No such queue entry');
  if (row.version !== expectedVersion) {
    throw new AppError(
      'STALE_VERSION',
      `${row.firstName} ${row.lastName} was changed by someone else (now ${queueStatusLabels[row.status]}); showing the latest`,
    );
  }
  return row;
}

function snapshot(row: QueueEntryRow): EntrySnapshot {
  return {
    status: row.status,
    statusChangedAt: row.statusChangedAt.toISOString(),
    clinicianId: row.clinicianId,
    clinicianName: row.clinicianName,
    roomId: row.roomId,
    roomName: row.roomName,
  };
}

type EntryChangeResult = { entry: QueueEntry; events: DomainEvent[] };

/** Where an entry is: its status since when, and with whom and where. */
interface Placement {
  status: QueueStatus;
  statusChangedAt: Date;
  clinician: StaffRef | null;
  room: Room | null;
}

/** Puts a locked entry in its new place and records the move, with what it replaced, for undo. */
async function recordMove(
  tx: Db,
  row: QueueEntryRow,
  kind: 'transition' | 'undo',
  to: Placement,
  by: StaffRef,
): Promise<EntryChangeResult> {
  const now = new Date();
  const [updated] = await tx
    .update(queueEntries)
    .set({
      status: to.status,
      statusChangedAt: to.statusChangedAt,
      clinicianId: to.clinician?.id ?? null,
      clinicianName: to.clinician?.name ?? null,
      roomId: to.room?.id ?? null,
      roomName: to.room?.name ?? null,
      version: row.version + 1,
      updatedAt: now,
    })
    .where(eq(queueEntries.id, row.id))
    .returning();
  if (!updated) throw new Error('queue entry update returned no row');
  await tx.insert(queueTransitions).values({
    entryId: row.id,
    kind,
    fromStatus: row.status,
    toStatus: to.status,
    byId: by.id,
    byName: by.name,
    at: now,
    clinicianId: to.clinician?.id ?? null,
    clinicianName: to.clinician?.name ?? null,
    roomId: to.room?.id ?? null,
    roomName: to.room?.name ?? null,
    previous: snapshot(row),
  });
  const entry = toQueueEntry(updated);
  return {
    entry,
    events: [{ type: 'queue.entry.updated', payload: { entry, change: { kind, from: row.status, to: to.status }, by } }],
  };
}

/** Moves an entry along the transition graph; anything off the graph is refused. */
export async function transitionEntry(
  tx: Db,
  move: {
    entryId: string;
    expectedVersion: number;
    to: QueueStatus;
    by: StaffRef;
    /** With `with_clinician`: who sees the patient, and where. */
    clinician?: StaffRef | undefined;
    room?: Room | null | undefined;
  },
): Promise<EntryChangeResult> {
  const row = await lockEntry(tx, move.entryId, move.expectedVersion);
  if (!canTransition(row.status, move.to)) {
    throw new AppError('INVALID_TRANSITION', `Cannot move from ${queueStatusLabels[row.status]} to ${queueStatusLabels[move.to]}`);
  }
  // Seeing a clinician names them; done keeps who saw the patient; any other move clears it.
  const seeing = move.to === 'with_clinician';
  const keeps = move.to === 'done';
  return recordMove(
    tx,
    row,
    'transition',
    {
      status: move.to,
      statusChangedAt: new Date(),
      clinician: seeing ? (move.clinician ?? move.by) : keeps ? ref(row.clinicianId, row.clinicianName) : null,
      room: seeing ? (move.room ?? null) : keeps ? ref(row.roomId, row.roomName) : null,
    },
    move.by,
  );
}

/** Steps back out of the entry's latest transition that is still in force. */
export async function undoLastTransition(
  tx: Db,
  request: { entryId: string; expectedVersion: number; by: StaffRef },
): Promise<EntryChangeResult> {
  const row = await lockEntry(tx, request.entryId, request.expectedVersion);
  const [last] = await tx
    .select()
    .from(queueTransitions)
    .where(and(eq(queueTransitions.entryId, row.id), eq(queueTransitions.kind, 'transition'), isNull(queueTransitions.undoneAt)))
    .orderBy(desc(queueTransitions.at), desc(queueTransitions.id))
    .limit(1);
  if (!last) throw new AppError('INVALID_TRANSITION', 'There is nothing to undo');
  await tx.update(queueTransitions).set({ undoneAt: new Date() }).where(eq(queueTransitions.id, last.id));
  const { previous } = last;
  return recordMove(
    tx,
    row,
    'undo',
    {
      status: previous.status,
      statusChangedAt: new Date(previous.statusChangedAt),
      clinician: ref(previous.clinicianId, previous.clinicianName),
      room: ref(previous.roomId, previous.roomName),
    },
    request.by,
  );
}

/** Records an acuity (and note) for an entry in triage; the queue reorders by it. */
export async function triageEntry(
  tx: Db,
  assessment: { entryId: string; expectedVersion: number; acuity: Acuity; note?: string | undefined; by: StaffRef },
): Promise<EntryChangeResult> {
  const row = await lockEntry(tx, assessment.entryId, assessment.expectedVersion);
  if (row.status !== 'in_triage') {
    throw new AppError('INVALID_TRANSITION', `Acuity is set in triage; this patient is ${queueStatusLabels[row.status]}`);
  }
  const now = new Date();
  const [updated] = await tx
    .update(queueEntries)
    .set({ acuity: assessment.acuity, version: row.version + 1, updatedAt: now })
    .where(eq(queueEntries.id, row.id))
    .returning();
  if (!updated) throw new Error('queue entry update returned no row');
  await tx.insert(triageAssessments).values({
    entryId: row.id,
    acuity: assessment.acuity,
    note: assessment.note === '' ? null : (assessment.note ?? null),
    byId: assessment.by.id,
    byName: assessment.by.name,
    at: now,
  });
  const entry = toQueueEntry(updated);
  return {
    entry,
    events: [
      {
        type: 'queue.entry.updated',
        payload: { entry, change: { kind: 'triage', acuity: assessment.acuity }, by: assessment.by },
      },
    ],
  };
}

/** Clears the possible-duplicate flag on the patient's entries still in the clinic. */
export async function dismissDuplicateFlag(tx: Db, patientId: string, by: StaffRef): Promise<EntryChangeResult[]> {
  const flagged = await tx
    .select()
    .from(queueEntries)
    .where(
      and(
        eq(queueEntries.patientId, patientId),
        eq(queueEntries.possibleDuplicate, true),
        inArray(queueEntries.status, [...activeStatuses]),
      ),
    )
    .for('update');
  const changes: EntryChangeResult[] = [];
  for (const row of flagged) {
    const [updated] = await tx
      .update(queueEntries)
      .set({ possibleDuplicate: false, version: row.version + 1, updatedAt: new Date() })
      .where(eq(queueEntries.id, row.id))
      .returning();
    if (!updated) throw new Error('queue entry update returned no row');
    const entry = toQueueEntry(updated);
    changes.push({
      entry,
      events: [{ type: 'queue.entry.updated', payload: { entry, change: { kind: 'duplicate_dismissed' }, by } }],
    });
  }
  return changes;
}
