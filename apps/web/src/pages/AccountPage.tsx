import { changePasswordInput, type User } from '@phos/shared';
import { Alert, Anchor, Button, Group, Paper, Stack, Text, Title } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { homeFor, useLeaveSession } from '../auth';
import { NewPasswordField } from '../components/NewPasswordField';
import { PasswordField } from '../components/PasswordField';
import { fullName } from '../format';
import { errorMessage, type FieldCodes } from '../errors';
import { showServerErrors, useSchemaForm } from '../forms';
import { useTRPC } from '../trpc';
import { FormError } from '../components/FormError';

const emptyForm = { currentPassword: '', newPassword: '' };

/** The wrong current password is the server's answer about one field: it shows there. */
const passwordFieldCodes: FieldCodes = { WRONG_PASSWORD: 'currentPassword' };

/** The signed-in person's own account: their password and their sessions. */
export function AccountPage({ user }: { user: User }) {
  return (
    <Stack gap="md" maw={640} mx="auto">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Your account
        </Title>
        <Anchor component={Link} to={homeFor(user.role)} size="sm">
          {user.role === 'Patient' ? 'Back to your page' : 'Back to the queue'}
        </Anchor>
      </Group>
      <Text c="dimmed" size="sm">
        {fullName(user)} · {user.email} · {user.role}
      </Text>
      <ChangePasswordSection user={user} />
      <SignOutEverywhereSection />
    </Stack>
  );
}

function ChangePasswordSection({ user }: { user: User }) {
  const trpc = useTRPC();
  const form = useSchemaForm({ schema: changePasswordInput, initialValues: emptyForm });
  const [changed, setChanged] = useState(false);
  const changePassword = useMutation(
    trpc.auth.changePassword.mutationOptions({
      onSuccess: () => {
        setChanged(true);
        form.reset();
      },
      onError: (error) => showServerErrors(form, error, passwordFieldCodes),
    }),
  );
  const formError = errorMessage(changePassword.error, passwordFieldCodes);

  return (
    <Paper withBorder p="lg" radius="md">
      <form
        onSubmit={form.onSubmit((values) => changePassword.mutate(values))}
        onChange={() => setChanged(false)}
        noValidate
        aria-labelledby="change-password-title"
      >
        <Stack gap="sm">
          <Title order={2} size="h4" id="change-password-title">
            Change password
          </Title>
          {changed ? (
            <Alert color="teal" variant="light" title="Password changed" role="status">
              Your password is changed. Any other sessions of your account were signed out; this one stays signed in.
            </Alert>
          ) : null}
          <FormError message={formError} title="Could not change the password" />
          <PasswordField label="Current password" autoComplete="current-password" {...form.getInputProps('currentPassword')} withAsterisk />
          <NewPasswordField label="New password" {...form.getInputProps('newPassword')} owner={user} withAsterisk />
          <Group justify="flex-end">
            <Button type="submit" loading={changePassword.isPending}>
              Change password
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}

function SignOutEverywhereSection() {
  const trpc = useTRPC();
  const leave = useLeaveSession();
  const signOutEverywhere = useMutation(
    trpc.auth.signOutEverywhere.mutationOptions({
      onSuccess: () => leave({ notice: 'You were signed out on every device, this one included.' }),
    }),
  );
  return (
    <Paper withBorder p="lg" radius="md" component="section" aria-labelledby="sign-out-everywhere-title">
      <Stack gap="sm" align="flex-start">
        <Title order={2} size="h4" id="sign-out-everywhere-title">
          Sign out everywhere
        </Title>
        <Text size="sm">Ends every session of your account, on this and any other computer or phone, including live views left open.</Text>
        {signOutEverywhere.isError ? (
          <Text size="sm" c="red.8" role="alert">
            {errorMessage(signOutEverywhere.error)}
          </Text>
        ) : null}
        <Button variant="default" color="red" onClick={() => signOutEverywhere.mutate()} loading={signOutEverywhere.isPending}>
          Sign out everywhere
        </Button>
      </Stack>
    </Paper>
  );
}
