import { queueStatusLabels } from '@phos/shared';
import { Alert, Anchor, Badge, Group, Paper, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import { homeFor, useMe } from '../auth';
import { FullPageLoader } from '../components/FullPageLoader';
import { formatDate, formatDateTime, fullName } from '../format';
import { formErrorOf, isAppError, useTRPC } from '../trpc';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text component="dt" size="sm" c="dimmed">
        {label}
      </Text>
      <Text component="dd" m={0} fw={500}>
        {children}
      </Text>
    </div>
  );
}

export function PatientPage() {
  const trpc = useTRPC();
  const me = useMe();
  const { id = '' } = useParams();
  const validId = uuidPattern.test(id);
  const patient = useQuery({ ...trpc.patients.byId.queryOptions({ id }), enabled: validId });
  const back = me.data ? homeFor(me.data.role) : '/';
  const backLabel = me.data?.role === 'Patient' ? 'Back to your page' : 'Back to the queue';

  let body: ReactNode;
  if (!validId || (patient.isError && isAppError(patient.error) && patient.error.data?.code === 'NOT_FOUND')) {
    body = (
      <Alert color="gray" variant="light" title="No such patient">
        This patient does not exist.
      </Alert>
    );
  } else if (patient.isPending) {
    body = <FullPageLoader />;
  } else if (patient.isError) {
    body = (
      <Alert color="red" variant="light" title="Could not load the patient">
        {formErrorOf(patient.error)}
      </Alert>
    );
  } else {
    const record = patient.data;
    body = (
      <Paper withBorder p="lg" radius="md">
        <Stack gap="lg">
          <Group justify="space-between" align="center">
            <Title order={1} size="h2">
              {fullName(record)}
            </Title>
            {record.queueStatus ? (
              <Badge variant="light" size="lg">
                {queueStatusLabels[record.queueStatus]}
              </Badge>
            ) : null}
          </Group>
          <SimpleGrid component="dl" cols={{ base: 1, sm: 2 }} spacing="md" m={0}>
            <Field label="Date of birth">
              <time dateTime={record.dateOfBirth}>{formatDate(record.dateOfBirth)}</time>
            </Field>
            <Field label="Email">{record.email ?? '—'}</Field>
            <Field label="Registered">
              <time dateTime={record.registeredAt}>{formatDateTime(record.registeredAt)}</time>
            </Field>
            <Field label="Queue status">{record.queueStatus ? queueStatusLabels[record.queueStatus] : 'Not in the queue'}</Field>
          </SimpleGrid>
        </Stack>
      </Paper>
    );
  }

  return (
    <Stack gap="md" maw={800} mx="auto">
      <Anchor component={Link} to={back} size="sm">
        ← {backLabel}
      </Anchor>
      {body}
    </Stack>
  );
}
