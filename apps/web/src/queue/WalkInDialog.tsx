import { walkInInput, type PatientMatch } from '@phos/shared';
import { Badge, Button, Group, List, Modal, Paper, Stack, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { formatDate, fullName } from '../format';
import { errorMessage } from '../errors';
import { showServerErrors, useSchemaForm } from '../forms';
import { showNotice } from '../notifications/notices';
import { useTRPC } from '../trpc';
import { FormError } from '../components/FormError';

const emptyForm = { firstName: '', lastName: '', dateOfBirth: '', email: '', phone: '' };

/** Optional details left blank are not sent at all. */
function details(form: typeof emptyForm) {
  return {
    firstName: form.firstName,
    lastName: form.lastName,
    dateOfBirth: form.dateOfBirth,
    email: form.email.trim() === '' ? undefined : form.email,
    phone: form.phone.trim() === '' ? undefined : form.phone,
  };
}

const reasonText: Record<PatientMatch['reasons'][number], string> = {
  name_and_date_of_birth: 'same name and date of birth',
  email: 'same email',
};

function whyMatched(match: PatientMatch): string {
  const why = match.reasons.map((reason) => reasonText[reason]).join(' and ');
  return why.charAt(0).toUpperCase() + why.slice(1);
}

export function WalkInDialog({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  return (
    <Modal opened={opened} onClose={onClose} title="Register walk-in" size="lg" centered closeButtonProps={{ 'aria-label': 'Close' }}>
      {opened ? <WalkInForm onClose={onClose} /> : null}
    </Modal>
  );
}

function WalkInForm({ onClose }: { onClose: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const form = useSchemaForm({ schema: walkInInput, initialValues: emptyForm, toInput: details });
  const [matches, setMatches] = useState<readonly PatientMatch[] | null>(null);
  const showErrors = (error: unknown) => showServerErrors(form, error);

  const register = useMutation(
    trpc.patients.registerWalkIn.mutationOptions({
      onSuccess: (_, input) => {
        onClose();
        // The row itself arrives over the queue subscription once the record is made.
        showNotice({ title: 'Walk-in registered', body: `${fullName(input)} joins the queue in a moment.` });
      },
      onError: showErrors,
    }),
  );
  // Confirming identity here is the desk's check of this person's ID against the record.
  const verify = useMutation(
    trpc.patients.verifyIdentity.mutationOptions({
      onSuccess: (patient) =>
        setMatches((current) => current?.map((match) => (match.id === patient.id ? { ...match, identityVerified: true } : match)) ?? null),
    }),
  );
  const check = useMutation({
    mutationFn: (input: ReturnType<typeof details>) =>
      queryClient.query(
        trpc.patients.findMatches.queryOptions(
          { firstName: input.firstName, lastName: input.lastName, dateOfBirth: input.dateOfBirth, email: input.email },
          { staleTime: 0 },
        ),
      ),
    onSuccess: ({ matches: found }, input) => {
      if (found.length === 0) register.mutate(input);
      else setMatches(found);
    },
    onError: showErrors,
  });

  const error = register.error ?? check.error ?? verify.error;
  const formError = errorMessage(error);
  const busy = check.isPending || register.isPending || verify.isPending;

  function submit(values: typeof emptyForm) {
    register.reset();
    verify.reset();
    check.mutate(details(values));
  }

  return (
    // Editing a field hides the matches found for the old details.
    <form onSubmit={form.onSubmit(submit)} onChange={() => setMatches(null)} noValidate>
      <Stack gap="sm">
        <FormError message={formError} title="Could not register the walk-in" />
        <Group grow align="flex-start" gap="sm">
          <TextInput label="First name" {...form.getInputProps('firstName')} withAsterisk data-autofocus />
          <TextInput label="Last name" {...form.getInputProps('lastName')} withAsterisk />
        </Group>
        <TextInput label="Date of birth" type="date" {...form.getInputProps('dateOfBirth')} withAsterisk />
        <Group grow align="flex-start" gap="sm">
          <TextInput label="Email (optional)" type="email" autoComplete="off" {...form.getInputProps('email')} />
          <TextInput label="Phone (optional)" type="tel" autoComplete="off" {...form.getInputProps('phone')} />
        </Group>
        {matches ? (
          <Paper withBorder p="sm" radius="md" bg="yellow.0" component="section" aria-labelledby="walk-in-matches">
            <Stack gap="xs">
              <Title order={3} size="h5" id="walk-in-matches">
                Possible existing patients
              </Title>
              <Text size="sm">Queue the existing record if this is the same person, so their history stays in one place.</Text>
              <List listStyleType="none" spacing="xs" p={0}>
                {matches.map((match) => (
                  <List.Item key={match.id}>
                    <Group justify="space-between" wrap="nowrap" gap="sm">
                      <div>
                        <Text size="sm" fw={600}>
                          {fullName(match)} · <time dateTime={match.dateOfBirth}>{formatDate(match.dateOfBirth)}</time>
                        </Text>
                        <Text size="xs" c="dimmed">
                          {whyMatched(match)}
                          {match.email ? ` · ${match.email}` : ''}
                        </Text>
                        {match.identityVerified ? null : (
                          <Badge color="orange" variant="light" size="sm" mt={4}>
                            Identity not verified
                          </Badge>
                        )}
                      </div>
                      {match.identityVerified ? (
                        <Button
                          size="xs"
                          variant="light"
                          loading={register.isPending && register.variables.existingPatientId === match.id}
                          disabled={busy}
                          onClick={() => register.mutate({ ...details(form.values), existingPatientId: match.id })}
                        >
                          {`Queue ${match.firstName} ${match.lastName}`}
                        </Button>
                      ) : (
                        // A self-registered record may have been made by anyone in this name: only
                        // after the desk has seen the person's ID can their visit go on it.
                        <Stack gap={4} align="flex-end">
                          <Button
                            size="xs"
                            variant="light"
                            color="orange"
                            loading={verify.isPending && verify.variables.id === match.id}
                            disabled={busy}
                            onClick={() => verify.mutate({ id: match.id })}
                          >
                            {"I have checked this person's ID"}
                          </Button>
                          <Button size="xs" variant="light" disabled aria-describedby={`identity-${match.id}`}>
                            {`Queue ${match.firstName} ${match.lastName}`}
                          </Button>
                          <Text size="xs" c="dimmed" id={`identity-${match.id}`}>
                            Confirm their identity first
                          </Text>
                        </Stack>
                      )}
                    </Group>
                  </List.Item>
                ))}
              </List>
            </Stack>
          </Paper>
        ) : null}
        <Group justify="flex-end" gap="sm" mt="xs">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          {matches ? (
            <Button
              variant="outline"
              loading={register.isPending && register.variables.existingPatientId === undefined}
              disabled={busy}
              onClick={() => register.mutate(details(form.values))}
            >
              Register as new patient
            </Button>
          ) : (
            <Button type="submit" loading={busy}>
              Check and register
            </Button>
          )}
        </Group>
      </Stack>
    </form>
  );
}
