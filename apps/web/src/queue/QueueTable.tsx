import { queueStatusLabels, type AcuityTargets, type QueueEntry } from '@phos/shared';
import { Anchor, Badge, Button, Menu, Text, VisuallyHidden } from '@mantine/core';
import { createColumnHelper, flexRender, metaHelper, tableFeatures, useTable, type Row } from '@tanstack/react-table';
import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useRef } from 'react';
import { Link } from 'react-router';
import { formatDate, formatWait, fullName, minutesSince } from '../format';
import { isPastTarget, moveLabel, movesFrom } from './model';
import type { RowAction } from './useQueueActions';
import './queue.css';

/** Every row has this height, so the window of rendered rows follows from the scroll offset alone. */
const ROW_HEIGHT = 56;
/** The sticky header's height (`.queue-table th` in queue.css); the first row starts below it. */
const HEADER_HEIGHT = 40;
/** Rows rendered beyond each edge of the viewport, so a fast scroll does not show blank space. */
const OVERSCAN = 6;
/** What the virtualiser assumes before it has measured the scroll container. */
const INITIAL_RECT = { width: 0, height: 16 * ROW_HEIGHT };

const statusColors: Record<QueueEntry['status'], string> = {
  waiting: 'blue',
  in_triage: 'grape',
  with_clinician: 'teal',
  done: 'gray',
  left: 'orange',
};

/** What every cell may need beyond its own entry; the table passes it to cells as `table.options.meta`. */
interface QueueTableMeta {
  targets: AcuityTargets | undefined;
  now: number;
  pending: ReadonlySet<string>;
  onAction: (entry: QueueEntry, action: RowAction) => void;
}

/**
 * No client-side sorting or filtering: the array handed to the table is already in the server's
 * order and filtered (model.ts), so the core row model is all the table needs.
 */
const features = tableFeatures({
  tableMeta: metaHelper<QueueTableMeta>(),
  columnMeta: metaHelper<{ className: string }>(),
});

const column = createColumnHelper<typeof features, QueueEntry>();

const columns = column.columns([
  column.display({
    id: 'patient',
    header: 'Patient',
    meta: { className: 'queue-col-patient' },
    cell: ({ row }) => {
      const entry = row.original;
      return (
        <>
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
              <DateOfBirth entry={entry} />
            </Text>
          </div>
        </>
      );
    },
  }),
  column.display({
    id: 'dateOfBirth',
    header: 'Date of birth',
    meta: { className: 'queue-col-dob' },
    cell: ({ row }) => <DateOfBirth entry={row.original} />,
  }),
  column.display({
    id: 'status',
    header: 'Status',
    meta: { className: 'queue-col-status' },
    cell: ({ row }) => (
      <Badge variant="light" color={statusColors[row.original.status]}>
        {queueStatusLabels[row.original.status]}
      </Badge>
    ),
  }),
  column.display({
    id: 'acuity',
    header: 'Acuity',
    meta: { className: 'queue-col-acuity' },
    cell: ({ row }) => {
      const acuity = row.original.acuity;
      return acuity === null ? (
        <>
          <span aria-hidden>—</span>
          <VisuallyHidden>Not triaged</VisuallyHidden>
        </>
      ) : (
        <Text span size="sm" fw={acuity <= 2 ? 700 : undefined} c={acuity <= 2 ? 'red.8' : undefined}>
          ESI {acuity}
        </Text>
      );
    },
  }),
  column.display({
    id: 'clinician',
    header: 'Clinician / Room',
    meta: { className: 'queue-col-clinician' },
    cell: ({ row }) => (
      <>
        <div className="queue-ellipsis">{row.original.clinician?.name ?? '—'}</div>
        {row.original.room ? (
          <Text size="xs" c="dimmed" className="queue-ellipsis">
            {row.original.room.name}
          </Text>
        ) : null}
      </>
    ),
  }),
  column.display({
    id: 'wait',
    header: 'Wait',
    meta: { className: 'queue-col-wait' },
    cell: ({ row, table }) => {
      const { now, targets } = metaOf(table.options.meta);
      const waited = minutesSince(row.original.arrivedAt, now);
      const late = isPastTarget(row.original, targets, now);
      return (
        <>
          <Text size="sm" c={late ? 'red.8' : undefined} fw={late ? 600 : undefined}>
            <time dateTime={`PT${waited}M`}>{formatWait(waited)}</time>
          </Text>
          {late ? (
            <Badge size="xs" color="red" variant="filled">
              Past target
            </Badge>
          ) : null}
        </>
      );
    },
  }),
  column.display({
    id: 'actions',
    header: 'Actions',
    meta: { className: 'queue-col-actions' },
    cell: ({ row, table }) => {
      const { pending, onAction } = metaOf(table.options.meta);
      return <RowActions entry={row.original} pending={pending.has(row.id)} onAction={onAction} />;
    },
  }),
]);

function metaOf(meta: QueueTableMeta | undefined): QueueTableMeta {
  if (!meta) throw new Error('The queue table renders cells without its meta');
  return meta;
}

function DateOfBirth({ entry }: { entry: QueueEntry }) {
  return <time dateTime={entry.dateOfBirth}>{formatDate(entry.dateOfBirth)}</time>;
}

const getRowId = (entry: QueueEntry) => entry.id;

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
  const table = useTable({ features, columns, data: entries, getRowId, meta: { targets, now, pending, onAction } });
  const rows = table.getRowModel().rows;

  const scrollRef = useRef<HTMLDivElement>(null);
  // Items keep the virtualiser's default index keys: every row is the same height, so there are no
  // measurements to carry with an entry, and an event does not make it recompute 5,000 offsets.
  // The app does not use the React Compiler, and nothing memoised receives the virtualiser itself.
  // eslint-disable-next-line react-hooks/incompatible-library -- read fresh on every render of this component
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: OVERSCAN,
    scrollMargin: HEADER_HEIGHT,
    initialRect: INITIAL_RECT,
  });

  // Rows out of view are stood in for by two spacer rows, so the table keeps its native layout
  // (column widths, sticky header) and the scrollbar reflects the whole queue.
  const items = virtualizer.getVirtualItems();
  const first = items[0];
  const last = items.at(-1);
  const paddingTop = first ? first.start - HEADER_HEIGHT : 0;
  const paddingBottom = last ? virtualizer.getTotalSize() - (last.end - HEADER_HEIGHT) : 0;

  return (
    <div ref={scrollRef} className="queue-scroll">
      <table className="queue-table" aria-label="Patient queue" aria-rowcount={rows.length + 1}>
        <thead>
          {table.getHeaderGroups().map((group) => (
            <tr key={group.id} aria-rowindex={1}>
              {group.headers.map((header) => (
                <th key={header.id} scope="col" className={header.column.columnDef.meta?.className}>
                  {flexRender(header.column.columnDef.header, header.getContext())}
                </th>
              ))}
            </tr>
          ))}
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={columns.length} className="queue-empty">
                {queueIsEmpty
                  ? 'The queue is empty. New registrations appear here as they arrive.'
                  : 'No patients in the queue match these filters.'}
              </td>
            </tr>
          ) : null}
          {paddingTop > 0 ? <Spacer height={paddingTop} /> : null}
          {items.map((item) => {
            const row = rows[item.index];
            return row ? (
              <QueueRow
                key={row.id}
                row={row}
                rowIndex={item.index + 2}
                targets={targets}
                now={now}
                pending={pending.has(row.id)}
                onAction={onAction}
              />
            ) : null;
          })}
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
      <td colSpan={columns.length} style={{ height }} />
    </tr>
  );
}

interface QueueRowProps {
  row: Row<typeof features, QueueEntry>;
  rowIndex: number;
  /** The table meta this row's cells read, passed too so the row re-renders when its part changes. */
  targets: AcuityTargets | undefined;
  now: number;
  pending: boolean;
  onAction: (entry: QueueEntry, action: RowAction) => void;
}

/**
 * The table rebuilds its row objects whenever the entries change, but an event replaces only one
 * entry (model.ts keeps the others' identity), so a row is compared by its entry: one event
 * re-renders one row, and the clock re-renders the rows in view.
 */
function sameRow(previous: QueueRowProps, next: QueueRowProps): boolean {
  return (
    previous.row.original === next.row.original &&
    previous.rowIndex === next.rowIndex &&
    previous.targets === next.targets &&
    previous.now === next.now &&
    previous.pending === next.pending &&
    previous.onAction === next.onAction
  );
}

const QueueRow = memo(function QueueRow({ row, rowIndex, targets, now }: QueueRowProps) {
  const late = isPastTarget(row.original, targets, now);
  return (
    <tr aria-rowindex={rowIndex} style={{ height: ROW_HEIGHT }} data-past-target={late || undefined}>
      {row.getAllCells().map((cell) => (
        <td key={cell.id} className={cell.column.columnDef.meta?.className}>
          {flexRender(cell.column.columnDef.cell, cell.getContext())}
        </td>
      ))}
    </tr>
  );
}, sameRow);

function RowActions({ entry, pending, onAction }: { entry: QueueEntry; pending: boolean; onAction: QueueTableMeta['onAction'] }) {
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
