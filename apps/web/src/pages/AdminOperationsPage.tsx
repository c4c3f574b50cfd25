import { discardRegistrationInput, type FailedRegistration, type PipelineStatus } from '@phos/shared';
import {
  Alert,
  Anchor,
  Badge,
  Button,
  Group,
  Modal,
  Paper,
  SimpleGrid,
  Stack,
  Table,
  Text,
  Textarea,
  Title,
  VisuallyHidden,
} from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { LiveIndicator, type LiveState } from '../components/LiveIndicator';
import { errorMessage } from '../errors';
import { formatDateTime } from '../format';
import { useSchemaForm } from '../forms';
import { useTRPC } from '../trpc';

const kindBadges: Record<FailedRegistration['kind'], { label: string; color: string }> = {
  self: { label: 'Self', color: 'blue' },
  walk_in: { label: 'Walk-in', color: 'grape' },
  fhir: { label: 'FHIR', color: 'cyan' },
};

function seconds(value: number): string {
  return value < 1 ? 'under a second' : value < 120 ? `${Math.round(value)} s` : `${Math.round(value / 60)} min`;
}

function Figure({ label, value, warn = false }: { label: string; value: string; warn?: boolean }) {
  return (
    <Stack gap={2}>
      <Text size="sm" c="dimmed">
        {label}
      </Text>
      <Text fw={600} c={warn ? 'red.8' : undefined}>
        {value}
      </Text>
    </Stack>
  );
}

/** From commit to push: the outbox, the job queues and the event log's consumers. */
function PipelineHealth({ status }: { status: PipelineStatus }) {
  const { outbox, queues, eventLog } = status;
  return (
    <Paper withBorder p="lg" radius="md" component="section" aria-labelledby="pipeline-title">
      <Stack gap="sm">
        <Title order={2} size="h4" id="pipeline-title">
          Pipeline
        </Title>
        <SimpleGrid cols={{ base: 2, sm: 4 }}>
          <Figure label="Outbox backlog" value={outbox.unsent.toLocaleString()} warn={outbox.oldestAgeSeconds > 60} />
          <Figure
            label="Oldest unsent"
            value={outbox.unsent === 0 ? '—' : seconds(outbox.oldestAgeSeconds)}
            warn={outbox.oldestAgeSeconds > 60}
          />
          <Figure label="Event log head" value={eventLog.head} />
          {eventLog.consumers.map((consumer) => (
            <Figure
              key={consumer.name}
              label={`${consumer.name} behind by`}
              value={consumer.lagEvents === 0 ? 'caught up' : `${consumer.lagEvents} events, ${seconds(consumer.lagSeconds)}`}
              warn={consumer.lagSeconds > 60}
            />
          ))}
        </SimpleGrid>
        <Table.ScrollContainer minWidth={480}>
          <Table striped aria-label="Job queues">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Queue</Table.Th>
                <Table.Th>Waiting</Table.Th>
                <Table.Th>Active</Table.Th>
                <Table.Th>Delayed</Table.Th>
                <Table.Th>Failed</Table.Th>
                <Table.Th>Workers</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {queues.map((queue) => (
                <Table.Tr key={queue.name}>
                  <Table.Td>{queue.name}</Table.Td>
                  <Table.Td>{queue.waiting}</Table.Td>
                  <Table.Td>{queue.active}</Table.Td>
                  <Table.Td>{queue.delayed}</Table.Td>
                  <Table.Td c={queue.failed > 0 ? 'red.8' : undefined}>{queue.failed}</Table.Td>
                  <Table.Td c={queue.workers === 0 ? 'red.8' : undefined}>{queue.workers === 0 ? 'none' : queue.workers}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
        <Text size="sm" c="dimmed">
          Updated {formatDateTime(status.at)}. The raw queues are on the{' '}
          <Anchor href="/admin/queues/" target="_blank" rel="noopener">
            queue board
          </Anchor>
          .
        </Text>
      </Stack>
    </Paper>
  );
}

/** Asks why before a failed registration is given up on; the reason stays with the registration. */
function DiscardDialog({ failed, onClose }: { failed: FailedRegistration | null; onClose: (discarded: boolean) => void }) {
  const trpc = useTRPC();
  const form = useSchemaForm({
    schema: discardRegistrationInput,
    initialValues: { reason: '' },
    toInput: ({ reason }) => ({ registrationId: failed?.registrationId ?? '', reason }),
  });
  const discard = useMutation(
    trpc.ops.discardRegistration.mutationOptions({
      onSuccess: () => {
        form.reset();
        onClose(true);
      },
    }),
  );
  return (
    <Modal
      opened={failed !== null}
      onClose={() => {
        discard.reset();
        onClose(false);
      }}
      title={failed ? `Discard the registration of ${failed.patientName}` : 'Discard'}
    >
      <form
        noValidate
        onSubmit={form.onSubmit((values) => {
          if (failed) discard.mutate({ registrationId: failed.registrationId, reason: values.reason });
        })}
      >
        <Stack gap="sm">
          <Text size="sm">No patient record will be made from it, and nothing will retry it. Say why, for the next person who looks.</Text>
          <Textarea label="Reason" required autosize minRows={2} data-autofocus {...form.getInputProps('reason')} />
          {discard.isError ? (
            <Alert color="red" role="alert">
              {errorMessage(discard.error)}
            </Alert>
          ) : null}
          <Group justify="flex-end">
            <Button type="submit" color="red" loading={discard.isPending}>
              Discard
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Registrations whose job failed for good: what went wrong, and a retry once the cause is fixed. */
function FailedRegistrations({ status }: { status: PipelineStatus }) {
  const trpc = useTRPC();
  const [discarding, setDiscarding] = useState<FailedRegistration | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const retry = useMutation(
    trpc.ops.retryRegistration.mutationOptions({ onSuccess: () => setDone('Retried. The patient joins the queue once it succeeds.') }),
  );
  const retryAll = useMutation(
    trpc.ops.retryAllRegistrations.mutationOptions({
      onSuccess: ({ retried }) => setDone(`Retried ${retried} registration${retried === 1 ? '' : 's'}.`),
    }),
  );
  const failure = retry.error ?? retryAll.error;
  const { failedRegistrations: failed, failedTotal } = status;

  return (
    <Paper withBorder p="lg" radius="md" component="section" aria-labelledby="failed-title">
      <Stack gap="sm">
        <Group justify="space-between">
          <Title order={2} size="h4" id="failed-title">
            Failed registrations{failedTotal > 0 ? ` (${failedTotal})` : ''}
          </Title>
          {failedTotal > 0 ? (
            <Button
              size="xs"
              variant="light"
              loading={retryAll.isPending}
              onClick={() => {
                setDone(null);
                retryAll.mutate();
              }}
            >
              Retry all
            </Button>
          ) : null}
        </Group>
        <div role="status" aria-live="polite">
          {done ? (
            <Text size="sm" c="teal.9">
              {done}
            </Text>
          ) : null}
        </div>
        {failure ? (
          <Alert color="red" role="alert">
            {errorMessage(failure)}
          </Alert>
        ) : null}
        {failed.length === 0 ? (
          <Text size="sm">No registration has failed. Registrations that fail for good wait here until you retry or discard them.</Text>
        ) : (
          <>
            <Text size="sm" c="dimmed">
              Fix the cause first (the error says what the database refused), then retry: a registration is never made into two patients.
            </Text>
            <Table.ScrollContainer minWidth={880}>
              <Table aria-label="Failed registrations" verticalSpacing="xs">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Name</Table.Th>
                    <Table.Th>Kind</Table.Th>
                    <Table.Th>Error</Table.Th>
                    <Table.Th>Attempts</Table.Th>
                    <Table.Th>Registered</Table.Th>
                    <Table.Th>First attempt</Table.Th>
                    <Table.Th>Last attempt</Table.Th>
                    <Table.Th>
                      <VisuallyHidden>Actions</VisuallyHidden>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {failed.map((entry) => (
                    <Table.Tr key={entry.registrationId} data-registration={entry.registrationId}>
                      <Table.Td>
                        <Text size="sm" fw={500}>
                          {entry.patientName}
                        </Text>
                        <Text size="xs" c="dimmed" ff="monospace">
                          {entry.registrationId}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <Badge variant="light" color={kindBadges[entry.kind].color}>
                          {kindBadges[entry.kind].label}
                        </Badge>
                      </Table.Td>
                      <Table.Td maw={320}>
                        <Text size="xs" ff="monospace" style={{ wordBreak: 'break-word' }}>
                          {entry.error}
                        </Text>
                      </Table.Td>
                      <Table.Td>{entry.attempts}</Table.Td>
                      <Table.Td>{formatDateTime(entry.registeredAt)}</Table.Td>
                      <Table.Td>{entry.firstAttemptAt ? formatDateTime(entry.firstAttemptAt) : '—'}</Table.Td>
                      <Table.Td>{entry.lastAttemptAt ? formatDateTime(entry.lastAttemptAt) : '—'}</Table.Td>
                      <Table.Td>
                        <Group gap="xs" wrap="nowrap">
                          <Button
                            size="xs"
                            aria-label={`Retry the registration of ${entry.patientName}`}
                            loading={retry.isPending && retry.variables.registrationId === entry.registrationId}
                            onClick={() => {
                              setDone(null);
                              retry.mutate({ registrationId: entry.registrationId });
                            }}
                          >
                            Retry
                          </Button>
                          <Button
                            size="xs"
                            variant="subtle"
                            color="red"
                            aria-label={`Discard the registration of ${entry.patientName}`}
                            onClick={() => {
                              setDone(null);
                              setDiscarding(entry);
                            }}
                          >
                            Discard
                          </Button>
                        </Group>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            {failedTotal > failed.length ? (
              <Text size="sm" c="dimmed">
                Showing the {failed.length} oldest of {failedTotal}.
              </Text>
            ) : null}
          </>
        )}
      </Stack>
      <DiscardDialog
        failed={discarding}
        onClose={(discarded) => {
          if (discarded && discarding) setDone(`Discarded the registration of ${discarding.patientName}.`);
          setDiscarding(null);
        }}
      />
    </Paper>
  );
}

/** The Admin's view of the registration pipeline, live, and what to do about registrations that failed. */
export function AdminOperationsPage() {
  const trpc = useTRPC();
  const [everConnected, setEverConnected] = useState(false);
  const subscription = useSubscription(trpc.ops.pipeline.subscriptionOptions(undefined, { onStarted: () => setEverConnected(true) }));
  const status = subscription.data;
  const state: LiveState =
    subscription.status === 'pending'
      ? 'live'
      : subscription.status === 'error'
        ? 'offline'
        : everConnected
          ? 'reconnecting'
          : 'connecting';

  return (
    <Stack gap="md" maw={1100} mx="auto">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Operations
        </Title>
        <Group gap="md">
          <LiveIndicator state={state} />
          <Anchor component={Link} to="/admin" size="sm">
            Administration
          </Anchor>
        </Group>
      </Group>
      {subscription.status === 'error' ? (
        <Alert color="red" role="alert" title="Not live">
          <Stack gap="xs" align="flex-start">
            <Text size="sm">{errorMessage(subscription.error)}</Text>
            <Button size="xs" variant="light" onClick={() => subscription.reset()}>
              Reconnect
            </Button>
          </Stack>
        </Alert>
      ) : null}
      {status ? (
        <>
          <FailedRegistrations status={status} />
          <PipelineHealth status={status} />
        </>
      ) : (
        <Text c="dimmed">Loading…</Text>
      )}
    </Stack>
  );
}
