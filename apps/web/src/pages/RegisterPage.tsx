import { todayIso } from '@phos/shared';
import { Alert, Anchor, Button, Group, Stack, Text, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState, type SubmitEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { useSetSignedIn } from '../auth';
import { AuthCard } from '../components/AuthCard';
import { NewPasswordField } from '../components/NewPasswordField';
import { formErrorOf, useTRPC } from '../trpc';
import { fieldBinder, useFieldErrors } from '../useFieldErrors';

export function RegisterPage() {
  const trpc = useTRPC();
  const navigate = useNavigate();
  const setSignedIn = useSetSignedIn();
  const [form, setForm] = useState({ firstName: '', lastName: '', dateOfBirth: '', email: '', password: '' });

  const register = useMutation(
    trpc.auth.register.mutationOptions({
      onSuccess: async ({ user }) => {
        setSignedIn(user);
        await navigate('/me', { replace: true });
      },
    }),
  );

  const field = fieldBinder(form, setForm, useFieldErrors(register.error));
  const formError = formErrorOf(register.error);

  function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    register.mutate(form);
  }

  return (
    <AuthCard title="Register" intro="Tell us who you are. Once your patient record is created, the clinic sees you in its queue.">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          {formError ? (
            <Alert color="red" variant="light" title="Could not register">
              {formError}
            </Alert>
          ) : null}
          <Group grow align="flex-start" gap="sm">
            <TextInput
              label="First name"
              autoComplete="given-name"
              {...field('firstName')}
              withAsterisk
            />
            <TextInput
              label="Last name"
              autoComplete="family-name"
              {...field('lastName')}
              withAsterisk
            />
          </Group>
          <TextInput
            label="Date of birth"
            type="date"
            autoComplete="bday"
            max={todayIso()}
            min="1900-01-01"
            {...field('dateOfBirth')}
            withAsterisk
          />
          <TextInput
            label="Email"
            type="email"
            autoComplete="email"
            {...field('email')}
            withAsterisk
          />
          <NewPasswordField
            label="Password"
            {...field('password')}
            owner={form}
            withAsterisk
          />
          <Button type="submit" loading={register.isPending} mt="xs">
            Register
          </Button>
          <Text size="sm" c="dimmed">
            Already registered?{' '}
            <Anchor component={Link} to="/login">
              Sign in
            </Anchor>
          </Text>
        </Stack>
      </form>
    </AuthCard>
  );
}
