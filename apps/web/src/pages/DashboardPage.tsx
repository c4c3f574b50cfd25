import type { QueueList, User } from '@phos/shared';
import { Alert, Anchor, Button, Group, Stack, Text, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useMemo, useState } from 'react';
import { Link } from 'react-router';
import { FullPageLoader } from '../components/FullPageLoader';
import { LiveIndicator, type LiveState } from '../components/LiveIndicator';
import { SendToClinicianDialog, TriageDialog } from '../queue/QueueDialogs';
import { QueueFilterBar, useQueueFilters } from '../queue/QueueFilters';
import { queueListOptions } from '../queue/queueList';
import { QueueSummary } from '../queue/QueueSummary';
import { QueueTable } from '../queue/QueueTable';
import { applyFinished, applyQueueChange, filterEntries, summarise, type FinishedEntries } from '../queue/model';
import { useQueueActions } from '../queue/useQueueActions';
import { WalkInDialog } from '../queue/WalkInDialog';
import { errorMessage } from '../errors';
import { useTRPC } from '../trpc';
import { useNow } from '../useNow';

/** Entries seen leaving the clinic since the list loaded; cached beside the list so both outlive a visit elsewhere. */
const finishedKey = ['phos', 'queue', 'finished'] as const;
const noneFinished: FinishedEntries = new Map();

export function DashboardPage({ user }: { user: User }) {
  const trpc = useTRPC();
  const queue = useQuery(queueListOptions(trpc));
  const [walkInOpen, setWalkInOpen] = useState(false);

  return (
    <Stack gap="md">
      <Group justify="space-between" align="center" wrap="wrap">
        <Title order={1} size="h2">
          Patient queue
        </Title>
        <Group gap="md">
          {user.role === 'Admin' ? (
            <Anchor component={Link} to="/admin">
              Administration
            </Anchor>
          ) : null}
          <Button onClick={() => setWalkInOpen(true)}>Register walk-in</Button>
        </Group>
      </Group>
      {queue.isPending ? (
        <FullPageLoader />
      ) : queue.isError ? (
        <Alert color="red" variant="light" title="Could not load the queue">
          {errorMessage(queue.error)}
        </Alert>
      ) : (
        <LiveQueue list={queue.data} user={user} />
      )}
      <WalkInDialog opened={walkInOpen} onClose={() => setWalkInOpen(false)} />
    </Stack>
  );
}

function LiveQueue({ list, user }: { list: QueueList; user: User }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const now = useNow();
  const settings = useQuery(trpc.queue.settings.queryOptions(undefined, { staleTime: 5 * 60_000 }));
  const finished = useQuery({
    queryKey: finishedKey,
    queryFn: () => noneFinished,
    initialData: noneFinished,
    staleTime: Number.POSITIVE_INFINITY,
  }).data;
  // Subscribe once from the snapshot's cursor; later cursors travel as the SSE last event id.
  const [from] = useState(list.lastEventId);
  const [everConnected, setEverConnected] = useState(false);

  const subscription = useSubscription(
    trpc.queue.onChange.subscriptionOptions(
      { lastEventId: from },
      {
        onStarted: () => setEverConnected(true),
        onData: ({ id, data }) => {
          queryClient.setQueryData(trpc.queue.list.queryKey(), (current) => (current ? applyQueueChange(current, id, data) : current));
          queryClient.setQueryData<FinishedEntries>(finishedKey, (current) => applyFinished(current ?? noneFinished, data));
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

  const { filters, set: setFilter, clear: clearFilters, active: filtering } = useQueueFilters();
  const shown = useMemo(() => filterEntries(list.entries, filters, user.id), [list.entries, filters, user.id]);
  const targets = settings.data?.targets;
  const figures = useMemo(() => summarise(list.entries, finished, targets, now), [list.entries, finished, targets, now]);
  const actions = useQueueActions();
  const total = list.entries.length;

  return (
    <Stack gap="sm">
      <QueueSummary figures={figures} />
      <QueueFilterBar
        filters={filters}
        clinicians={settings.data?.clinicians ?? []}
        active={filtering}
        onChange={setFilter}
        onClear={clearFilters}
      />
      <Group justify="space-between" wrap="wrap">
        <Text c="dimmed" size="sm">
          {filtering
            ? `Showing ${shown.length.toLocaleString()} of ${total.toLocaleString()} patients`
            : total === 0
              ? 'Nobody is in the queue'
              : total === 1
                ? '1 patient in the queue'
                : `${total.toLocaleString()} patients in the queue`}
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
      {actions.notice ? (
        <Alert
          key={actions.notice.key}
          role="alert"
          color="orange"
          variant="light"
          title="The change was not made"
          withCloseButton
          closeButtonLabel="Dismiss"
          onClose={actions.dismissNotice}
        >
          {actions.notice.message}
        </Alert>
      ) : null}
      <QueueTable entries={shown} queueIsEmpty={total === 0} targets={targets} now={now} pending={actions.pending} onAction={actions.act} />
      <SendToClinicianDialog
        entry={actions.dialog?.kind === 'send' ? actions.dialog.entry : null}
        clinicians={settings.data?.clinicians ?? []}
        rooms={settings.data?.rooms ?? []}
        defaultClinicianId={user.role === 'Provider' ? user.id : null}
        onSubmit={actions.sendToClinician}
        onClose={actions.closeDialog}
      />
      <TriageDialog
        entry={actions.dialog?.kind === 'triage' ? actions.dialog.entry : null}
        onSubmit={actions.saveTriage}
        onClose={actions.closeDialog}
      />
    </Stack>
  );
}
