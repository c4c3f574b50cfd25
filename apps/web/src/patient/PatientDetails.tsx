import type { Patient } from '@phos/shared';
import { queueStatusLabels } from '@phos/shared';
import { Alert, Anchor, Badge, Button, Group, Paper, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Link } from 'react-router';
import { LiveIndicator, type LiveState } from '../components/LiveIndicator';
import { formatDate, formatDateTime, fullName } from '../format';
import { errorMessage } from '../errors';
import { useTRPC } from '../trpc';

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text component="dt" size="sm" c="dimmed">
        {label}
      </Text>
      <Text component="dd" m={0} fw={500} style={{ overflowWrap: 'anywhere' }}>
        {children}
      </Text>
    </div>
  );
}

interface PatientDetailsProps {
  patient: Patient;
  /** Staff follow the record live; a Patient reading their own record does not. */
  live: { state: LiveState; reconnect: () => void } | null;
}

export function PatientDetails({ patient, live }: PatientDetailsProps) {
  return (
    <Paper withBorder p="lg" radius="md">
      <Stack gap="lg">
        <Group justify="space-between" align="center" gap="sm">
          <Group gap="sm" align="center">
            <Title order={1} size="h2">
              {fullName(patient)}
            </Title>
            {patient.queueStatus ? (
              <Badge variant="light" size="lg">
                {queueStatusLabels[patient.queueStatus]}
              </Badge>
            ) : null}
          </Group>
          {live ? (
            <Group gap="sm">
              <LiveIndicator state={live.state} />
              {live.state === 'offline' ? (
                <Button size="xs" variant="light" onClick={live.reconnect}>
                  Reconnect
                </Button>
              ) : null}
            </Group>
          ) : null}
        </Group>
        {patient.possibleDuplicateOf ? <PossibleDuplicate patientId={patient.id} otherId={patient.possibleDuplicateOf} /> : null}
        <section aria-labelledby="details-heading">
          <Title order={2} size="h4" id="details-heading" mb="sm">
            Details
          </Title>
          <SimpleGrid component="dl" cols={{ base: 1, sm: 2, md: 3 }} spacing="md" verticalSpacing="md" m={0}>
            <Field label="Date of birth">
              <time dateTime={patient.dateOfBirth}>{formatDate(patient.dateOfBirth)}</time>
            </Field>
            <Field label="Email">{patient.email ?? '—'}</Field>
            <Field label="Phone">{patient.phone ?? '—'}</Field>
            <Field label="Registered">
              <time dateTime={patient.registeredAt}>{formatDateTime(patient.registeredAt)}</time>
            </Field>
            <Field label="Queue status">{patient.queueStatus ? queueStatusLabels[patient.queueStatus] : 'Not in the queue'}</Field>
            <Field label="Identity">
              <IdentityStatus patient={patient} canConfirm={live !== null} />
            </Field>
          </SimpleGrid>
        </section>
      </Stack>
    </Paper>
  );
}

/** The registration looked like an existing patient: staff compare the two records. */
function PossibleDuplicate({ patientId, otherId }: { patientId: string; otherId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const other = useQuery(trpc.patients.byId.queryOptions({ id: otherId }));
  const dismiss = useMutation(
    trpc.patients.dismissDuplicate.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.patients.byId.queryKey({ id: patientId }) }),
    }),
  );
  return (
    <Alert color="yellow" variant="light" title="Possible duplicate record">
      <Stack gap="xs" align="flex-start">
        <Text size="sm">
          <Anchor component={Link} to={`/patients/${otherId}`} fw={600}>
            Possible duplicate of {other.data ? fullName(other.data) : 'another patient'}
          </Anchor>
          . Compare the two records before treating them as different people.
        </Text>
        {dismiss.isError ? (
          <Text size="sm" c="red.8" role="alert">
            {errorMessage(dismiss.error)}
          </Text>
        ) : null}
        <Button size="xs" variant="default" loading={dismiss.isPending} onClick={() => dismiss.mutate({ id: patientId })}>
          Not the same person
        </Button>
      </Stack>
    </Alert>
  );
}

/** Who checked this person's ID at the desk, or that nobody has: clinical data waits for it. */
function IdentityStatus({ patient, canConfirm }: { patient: Patient; canConfirm: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const verify = useMutation(
    trpc.patients.verifyIdentity.mutationOptions({
      onSuccess: (verified) => {
        queryClient.setQueryData(trpc.patients.byId.queryKey({ id: patient.id }), verified);
        void queryClient.invalidateQueries({ queryKey: trpc.patients.byId.queryKey({ id: patient.id }) });
      },
    }),
  );
  const { identity } = patient;
  if (identity.verified) {
    return (
      <>
        Verified{identity.verifiedBy ? ` by ${identity.verifiedBy}` : ''}
        {identity.verifiedAt ? (
          <>
            {' on '}
            <time dateTime={identity.verifiedAt}>{formatDateTime(identity.verifiedAt)}</time>
          </>
        ) : null}
      </>
    );
  }
  return (
    <Stack gap={4} align="flex-start" component="span">
      <Badge color="orange" variant="light" component="span">
        {identity.selfRegistered ? 'Not verified — self-registered' : 'Not verified'}
      </Badge>
      {canConfirm ? (
        <>
          <Button size="xs" variant="light" color="orange" loading={verify.isPending} onClick={() => verify.mutate({ id: patient.id })}>
            Confirm identity
          </Button>
          <Text component="span" size="xs" c="dimmed" fw={400}>
            Check the person&apos;s photo ID against this record first.
          </Text>
        </>
      ) : null}
      {verify.isError ? (
        <Text component="span" size="xs" c="red.8" role="alert">
          {errorMessage(verify.error)}
        </Text>
      ) : null}
    </Stack>
  );
}
