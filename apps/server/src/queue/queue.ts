import { and, asc, desc, eq, inArray, isNull, sql } from 'drizzle-orm';
import {
  activeStatuses,
  canTransition,
  queueStatusLabels,
  type DomainEvent,
  type QueueEntry,
  type QueueStatus,
  type Room,
  type StaffRef,
  type TransitionRecord,
  type TriageRecord,
  type Acuity,
} from '@phos/shared';
import type { Db } from '../db/client.js';
import { AppError } from '../errors.js';
import { queueEntries, queueTransitions, triageAssessments, type EntrySnapshot } from './schema.js';

type QueueEntryRow = typeof queueEntries.$inferSelect;

function ref(id: string | null, name: string | null): StaffRef | null {
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
    possibleDuplicate?: boolean;
  },
): Promise<{ entry: QueueEntry; events: DomainEvent[] } | null> {
  const [row] = await tx
    .insert(queueEntries)
    .values({ ...arrival, statusChangedAt: arrival.arrivedAt })
    .onConflictDoNothing({ target: queueEntries.registrationId })
    .returning();
  if (!row) return null;
  const entry = toQueueEntry(row);
  return { entry, events: [{ type: 'queue.entry.added', payload: { entry } }] };
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
    throw new AppError(
      'INVALID_TRANSITION',
      `Cannot move from ${queueStatusLabels[row.status]} to ${queueStatusLabels[move.to]}`,
    );
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
    .where(
      and(
        eq(queueTransitions.entryId, row.id),
        eq(queueTransitions.kind, 'transition'),
        isNull(queueTransitions.undoneAt),
      ),
    )
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

export async function findEntry(db: Db, entryId: string): Promise<QueueEntry | undefined> {
  const [row] = await db.select().from(queueEntries).where(eq(queueEntries.id, entryId));
  return row ? toQueueEntry(row) : undefined;
}

/** A patient's visits, newest first, each with its transitions and triage history. */
export async function journeyOfPatient(
  db: Db,
  patientId: string,
): Promise<{ entry: QueueEntry; transitions: TransitionRecord[]; triage: TriageRecord[] }[]> {
  const entries = await db
    .select()
    .from(queueEntries)
    .where(eq(queueEntries.patientId, patientId))
    .orderBy(desc(queueEntries.arrivedAt));
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
