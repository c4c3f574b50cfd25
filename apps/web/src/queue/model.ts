import {
  activeStatuses,
  nameKey,
  queueTransitions,
  type Acuity,
  type AcuityTargets,
  type QueueChange,
  type QueueEntry,
  type QueueList,
  type QueueStatus,
} from '@phos/shared';

export type FinalStatus = Exclude<QueueStatus, (typeof activeStatuses)[number]>;

export function isActive(status: QueueStatus): status is (typeof activeStatuses)[number] {
  return (activeStatuses as readonly QueueStatus[]).includes(status);
}

/** The server's order: most acute first, untriaged last, then by arrival. */
export function compareEntries(a: QueueEntry, b: QueueEntry): number {
  const acuityA = a.acuity ?? 6;
  const acuityB = b.acuity ?? 6;
  if (acuityA !== acuityB) return acuityA - acuityB;
  if (a.arrivedAt !== b.arrivedAt) return a.arrivedAt < b.arrivedAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function insertionIndex(entries: readonly QueueEntry[], entry: QueueEntry): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const probe = entries[middle];
    if (probe !== undefined && compareEntries(probe, entry) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

function changedEntry(change: QueueChange): QueueEntry {
  switch (change.type) {
    case 'queue.entry.added':
    case 'queue.entry.updated':
      return change.entry;
  }
}

/**
 * Applies one event to the one row it is about; every other entry keeps its identity, so memoised
 * rows stay put. Replaying an event, or one older than the row, changes nothing but the cursor.
 */
export function applyQueueChange(list: QueueList, eventId: string, change: QueueChange): QueueList {
  const entry = changedEntry(change);
  const index = list.entries.findIndex((candidate) => candidate.id === entry.id);
  const current = index === -1 ? undefined : list.entries[index];
  if (current && current.version >= entry.version) return { entries: list.entries, lastEventId: eventId };
  const entries = index === -1 ? [...list.entries] : list.entries.toSpliced(index, 1);
  if (isActive(entry.status)) entries.splice(insertionIndex(entries, entry), 0, entry);
  return { entries, lastEventId: eventId };
}

/** Entries seen leaving the clinic since the dashboard loaded, by id; an undo takes one back. */
export type FinishedEntries = ReadonlyMap<string, FinalStatus>;

export function applyFinished(finished: FinishedEntries, change: QueueChange): FinishedEntries {
  const entry = changedEntry(change);
  const status = entry.status;
  if (isActive(status)) {
    if (!finished.has(entry.id)) return finished;
    const next = new Map(finished);
    next.delete(entry.id);
    return next;
  }
  if (finished.get(entry.id) === status) return finished;
  return new Map(finished).set(entry.id, status);
}

/** The moves the graph allows from a status, in menu order. */
export function movesFrom(status: QueueStatus): readonly QueueStatus[] {
  return queueTransitions[status];
}

export function moveLabel(from: QueueStatus, to: QueueStatus): string {
  switch (to) {
    case 'in_triage':
      return from === 'waiting' ? 'Start triage' : 'Back to triage';
    case 'waiting':
      return 'Back to waiting';
    case 'with_clinician':
      return 'Send to clinician…';
    case 'done':
      return 'Mark done';
    case 'left':
      return 'Left without being seen';
  }
}

export const acuityNames: Record<Acuity, string> = {
  1: 'Resuscitation',
  2: 'Emergent',
  3: 'Urgent',
  4: 'Less urgent',
  5: 'Non-urgent',
};

/** Waiting to be seen past the target for the patient's acuity; untriaged patients have no target yet. */
export function isPastTarget(entry: QueueEntry, targets: AcuityTargets | undefined, now: number): boolean {
  if (!targets || entry.acuity === null) return false;
  if (entry.status !== 'waiting' && entry.status !== 'in_triage') return false;
  return new Date(entry.arrivedAt).getTime() + targets[entry.acuity] * 60_000 < now;
}

export interface QueueFilters {
  q: string;
  status: QueueStatus | null;
  /** An ESI level, or 'none' for patients not yet triaged. */
  acuity: Acuity | 'none' | null;
  clinicianId: string | null;
  mine: boolean;
}

const searchKeys = new WeakMap<QueueEntry, string>();

function searchKeyOf(entry: QueueEntry): string {
  let key = searchKeys.get(entry);
  if (key === undefined) {
    key = nameKey(entry.firstName, entry.lastName);
    searchKeys.set(entry, key);
  }
  return key;
}

export function filterEntries(entries: readonly QueueEntry[], filters: QueueFilters, meId: string): readonly QueueEntry[] {
  const query = filters.q.trim() === '' ? null : nameKey(filters.q, '');
  const clinicianId = filters.mine ? meId : filters.clinicianId;
  if (!query && !filters.status && !filters.acuity && !clinicianId) return entries;
  return entries.filter(
    (entry) =>
      (!query || searchKeyOf(entry).includes(query)) &&
      (!filters.status || entry.status === filters.status) &&
      (!filters.acuity || (filters.acuity === 'none' ? entry.acuity === null : entry.acuity === filters.acuity)) &&
      (!clinicianId || entry.clinician?.id === clinicianId),
  );
}

export interface QueueSummaryFigures {
  counts: Record<QueueStatus, number>;
  /** Mean minutes waited by those still waiting or in triage, or null when nobody is. */
  averageWaitMinutes: number | null;
  pastTarget: number;
}

export function summarise(
  entries: readonly QueueEntry[],
  finished: FinishedEntries,
  targets: AcuityTargets | undefined,
  now: number,
): QueueSummaryFigures {
  const counts: Record<QueueStatus, number> = { waiting: 0, in_triage: 0, with_clinician: 0, done: 0, left: 0 };
  let waitingMs = 0;
  let waitingCount = 0;
  let pastTarget = 0;
  for (const entry of entries) {
    counts[entry.status] += 1;
    if (entry.status === 'waiting' || entry.status === 'in_triage') {
      waitingMs += Math.max(0, now - new Date(entry.arrivedAt).getTime());
      waitingCount += 1;
      if (isPastTarget(entry, targets, now)) pastTarget += 1;
    }
  }
  for (const status of finished.values()) counts[status] += 1;
  return {
    counts,
    averageWaitMinutes: waitingCount === 0 ? null : Math.floor(waitingMs / waitingCount / 60_000),
    pastTarget,
  };
}
