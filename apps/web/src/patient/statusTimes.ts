import type { QueueEntry, QueueStatus, TransitionRecord } from '@phos/shared';

export interface StatusTime {
  status: QueueStatus;
  milliseconds: number;
  /** The entry is in this status now, so its time is still growing. */
  ongoing: boolean;
}

const finalStatuses: readonly QueueStatus[] = ['done', 'left'];

/**
 * Time spent in each status during one visit, in the order the statuses were first reached.
 * Undone transitions and the undos that reverted them are left out, as the server does when it
 * restores the status's start time: the patient never really left the earlier status.
 */
export function statusTimes(entry: QueueEntry, transitions: readonly TransitionRecord[], now: number): StatusTime[] {
  const effective = transitions.filter((record) => record.kind === 'transition' && record.undoneAt === null);
  const totals = new Map<QueueStatus, number>();
  const add = (status: QueueStatus, from: string, to: number) => {
    const span = Math.max(0, to - new Date(from).getTime());
    totals.set(status, (totals.get(status) ?? 0) + span);
  };

  let status = effective[0]?.from ?? entry.status;
  let since = entry.arrivedAt;
  for (const record of effective) {
    add(status, since, new Date(record.at).getTime());
    status = record.to;
    since = record.at;
  }
  const ongoing = !finalStatuses.includes(status);
  if (ongoing) add(status, since, now);

  return [...totals]
    .filter(([reached]) => !finalStatuses.includes(reached))
    .map(([reached, milliseconds]) => ({ status: reached, milliseconds, ongoing: ongoing && reached === status }));
}
