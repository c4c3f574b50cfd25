import { createUserInput, roles, type Role, type User } from '@phos/shared';
import { Alert, Anchor, Button, Group, NativeSelect, Paper, Stack, Text, TextInput, Title } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { fullName } from '../format';
import { EventLogSection } from '../ops/EventLogSection';
import { AcuityTargetsSection, RoomsSection } from '../queue/QueueSettingsAdmin';
import { errorMessage, type FieldCodes } from '../errors';
import { showServerErrors, useSchemaForm } from '../forms';
import { useTRPC } from '../trpc';
import { NewPasswordField } from '../components/NewPasswordField';
import { FormError } from '../components/FormError';

const emptyForm = { firstName: '', lastName: '', email: '', password: '', role: 'Provider' as Role, dateOfBirth: '' };

type AccountForm = typeof emptyForm;

function isRole(value: string): value is Role {
  return (roles as readonly string[]).includes(value);
}

/** A date of birth is sent for a Patient only, and nothing rather than an empty box. */
function toCreateUserInput({ dateOfBirth, ...rest }: AccountForm) {
  return { ...rest, dateOfBirth: rest.role === 'Patient' && dateOfBirth !== '' ? dateOfBirth : undefined };
}

/** A taken email is the email field's problem. */
const accountFieldCodes: FieldCodes = { EMAIL_TAKEN: 'email' };

export function AdminPage() {
  const trpc = useTRPC();
  const form = useSchemaForm({ schema: createUserInput, initialValues: emptyForm, toInput: toCreateUserInput });
  const [created, setCreated] = useState<User | null>(null);

  const createUser = useMutation(
    trpc.admin.createUser.mutationOptions({
      onSuccess: ({ user }) => {
        setCreated(user);
        form.reset();
      },
      onError: (error) => showServerErrors(form, error, accountFieldCodes),
    }),
  );

  const formError = errorMessage(createUser.error, accountFieldCodes);
  const isPatient = form.values.role === 'Patient';

  function submit(values: AccountForm) {
    setCreated(null);
    createUser.mutate(toCreateUserInput(values));
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
          <Anchor component={Link} to="/admin/operations" size="sm">
            Operations
          </Anchor>
          <Anchor component={Link} to="/admin/api-clients" size="sm">
            API clients
          </Anchor>
          <Anchor component={Link} to="/dashboard" size="sm">
            Patient queue
          </Anchor>
        </Group>
      </Group>
      <Paper withBorder p="lg" radius="md">
        <form onSubmit={form.onSubmit(submit, () => setCreated(null))} noValidate aria-labelledby="create-account-title">
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
            <FormError message={formError} title="Could not create the account" />
            <Group grow align="flex-start" gap="sm">
              <TextInput label="First name" {...form.getInputProps('firstName')} withAsterisk />
              <TextInput label="Last name" {...form.getInputProps('lastName')} withAsterisk />
            </Group>
            <TextInput label="Email" type="email" autoComplete="off" {...form.getInputProps('email')} withAsterisk />
            <NewPasswordField label="Password" {...form.getInputProps('password')} owner={form.values} withAsterisk />
            <NativeSelect
              label="Role"
              data={[...roles]}
              {...form.getInputProps('role')}
              onChange={(event) => {
                const value = event.currentTarget.value;
                if (!isRole(value)) return;
                form.setFieldValue('role', value);
                // Whether a date of birth is needed changes with the role.
                form.clearFieldError('dateOfBirth');
              }}
              withAsterisk
            />
            <TextInput
              label="Date of birth"
              type="date"
              description={isPatient ? 'Required for a Patient' : 'Only for Patient accounts'}
              disabled={!isPatient}
              {...form.getInputProps('dateOfBirth')}
              value={isPatient ? form.values.dateOfBirth : ''}
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
