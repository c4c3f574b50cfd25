import type { RegistrationStatus, User } from '@phos/shared';
import { queueStatusLabels } from '@phos/shared';
import { Alert, Badge, Group, Loader, Paper, Stack, Text, ThemeIcon, Title } from '@mantine/core';
import { skipToken, useQuery } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useState } from 'react';
import { useTRPC } from '../trpc';

export function MePage({ user }: { user: User }) {
  const trpc = useTRPC();
  const [status, setStatus] = useState<RegistrationStatus | null>(null);
  // Pushed by the server: the current state at once, then `ready` the moment the record commits.
  const subscription = useSubscription(
    trpc.registration.onStatus.subscriptionOptions(undefined, { onData: (data) => setStatus(data) }),
  );
  const ready = status?.state === 'ready';
  const patientId = status?.patientId;
  const record = useQuery(trpc.patients.byId.queryOptions(patientId ? { id: patientId } : skipToken));

  return (
    <Stack gap="lg" maw={640} mx="auto">
      <Title order={1} size="h2">
        Welcome, {user.firstName}
      </Title>
      <Paper withBorder p="lg" radius="md">
        <Stack gap="md">
          <Group gap="sm" wrap="nowrap">
            <ThemeIcon color="teal" variant="light" radius="xl" aria-hidden>
              ✓
            </ThemeIcon>
            <Text fw={500}>Your registration was received</Text>
          </Group>
          <div role="status" aria-live="polite">
            {ready ? (
              <Group gap="sm" wrap="nowrap">
                <ThemeIcon color="teal" radius="xl" aria-hidden>
                  ✓
                </ThemeIcon>
                <Text fw={500}>Your record is ready</Text>
              </Group>
            ) : (
              <Group gap="sm" wrap="nowrap">
                <Loader size="sm" aria-hidden />
                <Text c="dimmed">We are creating your patient record. This page updates by itself.</Text>
              </Group>
            )}
          </div>
          {record.data?.queueStatus ? (
            <Group gap="sm">
              <Text size="sm" c="dimmed">
                Queue status
              </Text>
              <Badge variant="light">{queueStatusLabels[record.data.queueStatus]}</Badge>
            </Group>
          ) : null}
        </Stack>
      </Paper>
      {subscription.status === 'error' && !ready ? (
        <Alert color="yellow" variant="light" title="Lost contact with the clinic">
          We could not follow your registration live. Reload the page to try again.
        </Alert>
      ) : null}
    </Stack>
  );
}
