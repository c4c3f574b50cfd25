import type { QueueChange, QueueEntry, QueueList, User } from '@phos/shared';
import { queueStatusLabels } from '@phos/shared';
import { Alert, Anchor, Badge, Button, Group, Paper, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { FullPageLoader } from '../components/FullPageLoader';
import { LiveIndicator, type LiveState } from '../components/LiveIndicator';
import { formatDate, formatTime, formatWait, fullName, minutesSince } from '../format';
import { formErrorOf, useTRPC } from '../trpc';
import { useNow } from '../useNow';

type ChangeHandlers = {
  [T in QueueChange['type']]: (list: QueueList, change: Extract<QueueChange, { type: T }>) => QueueEntry[];
};

// A mapped type, so a new kind of queue change does not compile until it is handled here.
const changeHandlers: ChangeHandlers = {
  'queue.entry.added': (list, change) => [...list.entries.filter((entry) => entry.id !== change.entry.id), change.entry],
};

/** Upserts by entry id and keeps the list oldest first; replaying an event changes nothing. */
export function applyQueueChange(list: QueueList, eventId: string, change: QueueChange): QueueList {
  const entries = changeHandlers[change.type](list, change).sort(
    (a, b) => a.arrivedAt.localeCompare(b.arrivedAt) || a.id.localeCompare(b.id),
  );
  return { entries, lastEventId: eventId };
}

export function DashboardPage({ user }: { user: User }) {
  const trpc = useTRPC();
  const queue = useQuery(
    // The subscription keeps this cache current; a refetch would only race it.
    trpc.queue.list.queryOptions(undefined, { staleTime: Number.POSITIVE_INFINITY, refetchOnReconnect: false }),
  );

  return (
    <Stack gap="md">
      <Group justify="space-between" align="center" wrap="wrap">
        <Title order={1} size="h2">
          Patient queue
        </Title>
        {user.role === 'Admin' ? (
          <Anchor component={Link} to="/admin">
            Administration
          </Anchor>
        ) : null}
      </Group>
      {queue.isPending ? (
        <FullPageLoader />
      ) : queue.isError ? (
        <Alert color="red" variant="light" title="Could not load the queue">
          {formErrorOf(queue.error)}
        </Alert>
      ) : (
        <LiveQueue list={queue.data} />
      )}
    </Stack>
  );
}

function LiveQueue({ list }: { list: QueueList }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const now = useNow();
  // Subscribe once from the snapshot's cursor; later cursors travel as the SSE last event id.
  const [from] = useState(list.lastEventId);
  const [everConnected, setEverConnected] = useState(false);

  const subscription = useSubscription(
    trpc.queue.onChange.subscriptionOptions(
      { lastEventId: from },
      {
        onStarted: () => setEverConnected(true),
        onData: ({ id, data }) => {
          queryClient.setQueryData(trpc.queue.list.queryKey(), (current) =>
            current ? applyQueueChange(current, id, data) : current,
          );
        },
      },
    ),
  );

  let state: LiveState;
  if (subscription.status === 'pending') {
    state = 'live';
  } else if (subscription.status === 'error') {
    state = 'offline';
  } else {
    state = everConnected ? 'reconnecting' : 'connecting';
  }

  const waiting = list.entries.length;
  return (
    <Stack gap="sm">
      <Group justify="space-between" wrap="wrap">
        <Text c="dimmed" size="sm">
          {waiting === 0 ? 'Nobody is waiting' : waiting === 1 ? '1 patient in the queue' : `${waiting} patients in the queue`}
        </Text>
        <Group gap="sm">
          <LiveIndicator state={state} />
          {state === 'offline' ? (
            <Button size="xs" variant="light" onClick={() => subscription.reset()}>
              Reconnect
            </Button>
          ) : null}
        </Group>
      </Group>
      <Paper withBorder radius="md" style={{ overflow: 'hidden' }}>
        <Table.ScrollContainer minWidth={640}>
          <Table aria-label="Patient queue" verticalSpacing="sm" horizontalSpacing="md" highlightOnHover striped={false}>
            <Table.Thead bg="gray.0">
              <Table.Tr>
                <Table.Th scope="col">Patient</Table.Th>
                <Table.Th scope="col">Date of birth</Table.Th>
                <Table.Th scope="col">Status</Table.Th>
                <Table.Th scope="col">Arrived</Table.Th>
                <Table.Th scope="col">Waiting</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.entries.length === 0 ? (
                <Table.Tr>
                  <Table.Td colSpan={5}>
                    <Text ta="center" c="dimmed" py="xl">
                      The queue is empty. New registrations appear here as they arrive.
                    </Text>
                  </Table.Td>
                </Table.Tr>
              ) : (
                list.entries.map((entry) => <QueueRow key={entry.id} entry={entry} now={now} />)
              )}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      </Paper>
    </Stack>
  );
}

const statusColors: Record<QueueEntry['status'], string> = {
  waiting: 'blue',
  in_triage: 'grape',
  with_clinician: 'teal',
  done: 'gray',
  left: 'orange',
};

function QueueRow({ entry, now }: { entry: QueueEntry; now: number }) {
  const waited = minutesSince(entry.arrivedAt, now);
  return (
    <Table.Tr>
      <Table.Td>
        <Anchor component={Link} to={`/patients/${entry.patientId}`} fw={500}>
          {fullName(entry)}
        </Anchor>
      </Table.Td>
      <Table.Td>
        <time dateTime={entry.dateOfBirth}>{formatDate(entry.dateOfBirth)}</time>
      </Table.Td>
      <Table.Td>
        <Badge variant="light" color={statusColors[entry.status]}>
          {queueStatusLabels[entry.status]}
        </Badge>
      </Table.Td>
      <Table.Td>
        <time dateTime={entry.arrivedAt}>{formatTime(entry.arrivedAt)}</time>
      </Table.Td>
      <Table.Td>
        <Text size="sm" c={waited >= 30 ? 'orange.9' : undefined} fw={waited >= 30 ? 600 : undefined}>
          {formatWait(waited)}
        </Text>
      </Table.Td>
    </Table.Tr>
  );
}
