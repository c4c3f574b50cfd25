import { roles, type Role, type User } from '@phos/shared';
import { Alert, Anchor, Button, Group, NativeSelect, Paper, Stack, Text, TextInput, Title } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState, type SubmitEvent } from 'react';
import { Link } from 'react-router';
import { fullName } from '../format';
import { EventLogSection } from '../ops/EventLogSection';
import { AcuityTargetsSection, RoomsSection } from '../queue/QueueSettingsAdmin';
import { formErrorOf, useTRPC } from '../trpc';
import { fieldBinder, useFieldErrors } from '../useFieldErrors';
import { NewPasswordField } from '../components/NewPasswordField';

const emptyForm = { firstName: '', lastName: '', email: '', password: '', role: 'Provider' as Role, dateOfBirth: '' };

function isRole(value: string): value is Role {
  return (roles as readonly string[]).includes(value);
}

export function AdminPage() {
  const trpc = useTRPC();
  const [form, setForm] = useState(emptyForm);
  const [created, setCreated] = useState<User | null>(null);

  const createUser = useMutation(
    trpc.admin.createUser.mutationOptions({
      onSuccess: ({ user }) => {
        setCreated(user);
        setForm(emptyForm);
      },
    }),
  );

  const errors = useFieldErrors(createUser.error);
  const { fieldErrors, markEdited } = errors;
  const field = fieldBinder(form, setForm, errors);
  const formError = formErrorOf(createUser.error);
  const isPatient = form.role === 'Patient';

  function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    setCreated(null);
    const { dateOfBirth, ...rest } = form;
    createUser.mutate({ ...rest, dateOfBirth: isPatient && dateOfBirth !== '' ? dateOfBirth : undefined });
  }

  return (
    <Stack gap="md" maw={640} mx="auto">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Administration
        </Title>
        <Group gap="md">
          <Anchor component={Link} to="/admin/accounts" size="sm">
            Accounts
          </Anchor>
          <Anchor component={Link} to="/admin/audit" size="sm">
            Audit trail
          </Anchor>
          <Anchor component={Link} to="/dashboard" size="sm">
            Patient queue
          </Anchor>
        </Group>
      </Group>
      <Paper withBorder p="lg" radius="md">
        <form onSubmit={submit} noValidate aria-labelledby="create-account-title">
          <Stack gap="sm">
            <Title order={2} size="h4" id="create-account-title">
              Create an account
            </Title>
            <Text size="sm" c="dimmed">
              Clinicians and administrators get their accounts here. A Patient account also puts the patient in the queue.
            </Text>
            {created ? (
              <Alert color="teal" variant="light" title="Account created" role="status">
                {fullName(created)} ({created.email}) can now sign in as {created.role}.
              </Alert>
            ) : null}
            {formError ? (
              <Alert color="red" variant="light" title="Could not create the account">
                {formError}
              </Alert>
            ) : null}
            <Group grow align="flex-start" gap="sm">
              <TextInput label="First name" {...field('firstName')} withAsterisk />
              <TextInput label="Last name" {...field('lastName')} withAsterisk />
            </Group>
            <TextInput
              label="Email"
              type="email"
              autoComplete="off"
              {...field('email')}
              withAsterisk
            />
            <NewPasswordField
              label="Password"
              {...field('password')}
              owner={form}
              withAsterisk
            />
            <NativeSelect
              label="Role"
              data={[...roles]}
              value={form.role}
              onChange={(event) => {
                const value = event.currentTarget.value;
                if (!isRole(value)) return;
                markEdited('role', 'dateOfBirth');
                setForm((current) => ({ ...current, role: value }));
              }}
              error={fieldErrors.role}
              withAsterisk
            />
            <TextInput
              label="Date of birth"
              type="date"
              description={isPatient ? 'Required for a Patient' : 'Only for Patient accounts'}
              disabled={!isPatient}
              value={isPatient ? form.dateOfBirth : ''}
              onChange={field('dateOfBirth').onChange}
              error={fieldErrors.dateOfBirth}
              withAsterisk={isPatient}
            />
            <Button type="submit" loading={createUser.isPending} mt="xs">
              Create account
            </Button>
          </Stack>
        </form>
      </Paper>
      <RoomsSection />
      <AcuityTargetsSection />
      <EventLogSection />
    </Stack>
  );
}
