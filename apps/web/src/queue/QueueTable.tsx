import { queueStatusLabels, type AcuityTargets, type QueueEntry } from '@phos/shared';
import { Anchor, Badge, Button, Menu, Text, VisuallyHidden } from '@mantine/core';
import { memo } from 'react';
import { Link } from 'react-router';
import { formatDate, formatWait, fullName, minutesSince } from '../format';
import { isPastTarget, moveLabel, movesFrom } from './model';
import type { RowAction } from './useQueueActions';
import { useVirtualRows } from './useVirtualRows';
import './queue.css';

/** Every row has this height, so the window of rendered rows follows from the scroll offset alone. */
const ROW_HEIGHT = 56;

const statusColors: Record<QueueEntry['status'], string> = {
  waiting: 'blue',
  in_triage: 'grape',
  with_clinician: 'teal',
  done: 'gray',
  left: 'orange',
};

interface QueueTableProps {
  entries: readonly QueueEntry[];
  /** Whether the queue itself is empty, as opposed to nothing matching the filters. */
  queueIsEmpty: boolean;
  targets: AcuityTargets | undefined;
  now: number;
  pending: ReadonlySet<string>;
  onAction: (entry: QueueEntry, action: RowAction) => void;
}

export function QueueTable({ entries, queueIsEmpty, targets, now, pending, onAction }: QueueTableProps) {
  const { containerRef, onScroll, start, end, paddingTop, paddingBottom } = useVirtualRows(entries.length, ROW_HEIGHT);
  const visible = entries.slice(start, end);
  return (
    <div ref={containerRef} onScroll={onScroll} className="queue-scroll">
      <table className="queue-table" aria-label="Patient queue" aria-rowcount={entries.length + 1}>
        <thead>
          <tr aria-rowindex={1}>
            <th scope="col" className="queue-col-patient">
              Patient
            </th>
            <th scope="col" className="queue-col-dob">
              Date of birth
            </th>
            <th scope="col" className="queue-col-status">
              Status
            </th>
            <th scope="col" className="queue-col-acuity">
              Acuity
            </th>
            <th scope="col" className="queue-col-clinician">
              Clinician / Room
            </th>
            <th scope="col" className="queue-col-wait">
              Wait
            </th>
            <th scope="col" className="queue-col-actions">
              Actions
            </th>
          </tr>
        </thead>
        <tbody>
          {entries.length === 0 ? (
            <tr>
              <td colSpan={7} className="queue-empty">
                {queueIsEmpty
                  ? 'The queue is empty. New registrations appear here as they arrive.'
                  : 'No patients in the queue match these filters.'}
              </td>
            </tr>
          ) : null}
          {paddingTop > 0 ? <Spacer height={paddingTop} /> : null}
          {visible.map((entry, offset) => (
            <QueueRow
              key={entry.id}
              entry={entry}
              rowIndex={start + offset + 2}
              targets={targets}
              now={now}
              pending={pending.has(entry.id)}
              onAction={onAction}
            />
          ))}
          {paddingBottom > 0 ? <Spacer height={paddingBottom} /> : null}
        </tbody>
      </table>
    </div>
  );
}

/** Stands in for the rows scrolled out of view, so the scrollbar reflects the whole queue. */
function Spacer({ height }: { height: number }) {
  return (
    <tr aria-hidden className="queue-spacer">
      <td colSpan={7} style={{ height }} />
    </tr>
  );
}

interface QueueRowProps {
  entry: QueueEntry;
  rowIndex: number;
  targets: AcuityTargets | undefined;
  now: number;
  pending: boolean;
  onAction: (entry: QueueEntry, action: RowAction) => void;
}

/** Re-renders only when its own entry, position or the clock changes. */
const QueueRow = memo(function QueueRow({ entry, rowIndex, targets, now, pending, onAction }: QueueRowProps) {
  const waited = minutesSince(entry.arrivedAt, now);
  const late = isPastTarget(entry, targets, now);
  const dateOfBirth = <time dateTime={entry.dateOfBirth}>{formatDate(entry.dateOfBirth)}</time>;
  return (
    <tr aria-rowindex={rowIndex} style={{ height: ROW_HEIGHT }} data-past-target={late || undefined}>
      <td className="queue-col-patient">
        <Anchor component={Link} to={`/patients/${entry.patientId}`} fw={500} className="queue-ellipsis" display="block">
          {fullName(entry)}
        </Anchor>
        <div className="queue-subline">
          {entry.possibleDuplicate ? (
            <Badge size="xs" color="orange" variant="light">
              Possible duplicate
            </Badge>
          ) : null}
          <Text span size="xs" c="dimmed" className="queue-dob-inline">
            {dateOfBirth}
          </Text>
        </div>
      </td>
      <td className="queue-col-dob">{dateOfBirth}</td>
      <td className="queue-col-status">
        <Badge variant="light" color={statusColors[entry.status]}>
          {queueStatusLabels[entry.status]}
        </Badge>
      </td>
      <td className="queue-col-acuity">
        {entry.acuity === null ? (
          <>
            <span aria-hidden>—</span>
            <VisuallyHidden>Not triaged</VisuallyHidden>
          </>
        ) : (
          <Text span size="sm" fw={entry.acuity <= 2 ? 700 : undefined} c={entry.acuity <= 2 ? 'red.8' : undefined}>
            ESI {entry.acuity}
          </Text>
        )}
      </td>
      <td className="queue-col-clinician">
        <div className="queue-ellipsis">{entry.clinician?.name ?? '—'}</div>
        {entry.room ? (
          <Text size="xs" c="dimmed" className="queue-ellipsis">
            {entry.room.name}
          </Text>
        ) : null}
      </td>
      <td className="queue-col-wait">
        <Text size="sm" c={late ? 'red.8' : undefined} fw={late ? 600 : undefined}>
          <time dateTime={`PT${waited}M`}>{formatWait(waited)}</time>
        </Text>
        {late ? (
          <Badge size="xs" color="red" variant="filled">
            Past target
          </Badge>
        ) : null}
      </td>
      <td className="queue-col-actions">
        <RowActions entry={entry} pending={pending} onAction={onAction} />
      </td>
    </tr>
  );
});

function RowActions({ entry, pending, onAction }: Omit<QueueRowProps, 'rowIndex' | 'targets' | 'now'>) {
  const status = entry.status;
  return (
    <Menu position="bottom-end" withinPortal shadow="md">
      <Menu.Target>
        <Button size="xs" variant="default" loading={pending} aria-label={`Actions for ${entry.firstName} ${entry.lastName}`}>
          Actions
        </Button>
      </Menu.Target>
      <Menu.Dropdown>
        {movesFrom(status).map((to) => (
          <Menu.Item
            key={to}
            color={to === 'left' ? 'orange' : undefined}
            onClick={() => onAction(entry, to === 'with_clinician' ? { kind: 'send' } : { kind: 'move', to })}
          >
            {moveLabel(status, to)}
          </Menu.Item>
        ))}
        {status === 'in_triage' ? <Menu.Item onClick={() => onAction(entry, { kind: 'triage' })}>Set acuity…</Menu.Item> : null}
        <Menu.Divider />
        <Menu.Item onClick={() => onAction(entry, { kind: 'undo' })}>Undo last change</Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}
