import { registerInput, todayIso } from '@phos/shared';
import { Anchor, Button, Group, Stack, Text, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { Link, useNavigate } from 'react-router';
import { useSetSignedIn } from '../auth';
import { AuthCard } from '../components/AuthCard';
import { NewPasswordField } from '../components/NewPasswordField';
import { errorMessage, type FieldCodes } from '../errors';
import { showServerErrors, useSchemaForm } from '../forms';
import { useTRPC } from '../trpc';
import { FormError } from '../components/FormError';

/** A taken email is the email field's problem. */
const registerFieldCodes: FieldCodes = { EMAIL_TAKEN: 'email' };

export function RegisterPage() {
  const trpc = useTRPC();
  const navigate = useNavigate();
  const setSignedIn = useSetSignedIn();
  const form = useSchemaForm({
    schema: registerInput,
    initialValues: { firstName: '', lastName: '', dateOfBirth: '', email: '', password: '' },
  });

  const register = useMutation(
    trpc.auth.register.mutationOptions({
      onSuccess: async ({ user }) => {
        setSignedIn(user);
        await navigate('/me', { replace: true });
      },
      onError: (error) => showServerErrors(form, error, registerFieldCodes),
    }),
  );

  const formError = errorMessage(register.error, registerFieldCodes);

  return (
    <AuthCard title="Register" intro="Tell us who you are. Once your patient record is created, the clinic sees you in its queue.">
      <form onSubmit={form.onSubmit((values) => register.mutate(values))} noValidate>
        <Stack gap="sm">
          <FormError message={formError} title="Could not register" />
          <Group grow align="flex-start" gap="sm">
            <TextInput label="First name" autoComplete="given-name" {...form.getInputProps('firstName')} withAsterisk />
            <TextInput label="Last name" autoComplete="family-name" {...form.getInputProps('lastName')} withAsterisk />
          </Group>
          <TextInput
            label="Date of birth"
            type="date"
            autoComplete="bday"
            max={todayIso()}
            min="1900-01-01"
            {...form.getInputProps('dateOfBirth')}
            withAsterisk
          />
          <TextInput label="Email" type="email" autoComplete="email" {...form.getInputProps('email')} withAsterisk />
          <NewPasswordField label="Password" {...form.getInputProps('password')} owner={form.values} withAsterisk />
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
