import { loginInput } from '@phos/shared';
import { Alert, Anchor, Button, Stack, Text, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { Link, Navigate, useLocation, useNavigate, useSearchParams } from 'react-router';
import { homeFor, isSignedOutState, useMe, useSetSignedIn } from '../auth';
import { AuthCard } from '../components/AuthCard';
import { FullPageLoader } from '../components/FullPageLoader';
import { PasswordField } from '../components/PasswordField';
import { errorMessage } from '../errors';
import { showServerErrors, useSchemaForm } from '../forms';
import { useTRPC } from '../trpc';
import { FormError } from '../components/FormError';

/** Only same-site paths, so a crafted link cannot send someone elsewhere after sign-in. */
function safeReturnPath(value: string | null): string | null {
  return value?.startsWith('/') && !value.startsWith('//') ? value : null;
}

export function LoginPage() {
  const trpc = useTRPC();
  const me = useMe();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const location = useLocation();
  const notice = isSignedOutState(location.state) ? location.state.notice : null;
  const setSignedIn = useSetSignedIn();
  const form = useSchemaForm({ schema: loginInput, initialValues: { email: '', password: '' } });
  const returnTo = safeReturnPath(params.get('from'));

  const login = useMutation(
    trpc.auth.login.mutationOptions({
      onSuccess: async ({ user }) => {
        setSignedIn(user);
        await navigate(returnTo ?? homeFor(user.role), { replace: true });
      },
      onError: (error) => showServerErrors(form, error),
    }),
  );

  if (me.isPending) return <FullPageLoader />;
  if (me.data && !login.isSuccess) return <Navigate to={homeFor(me.data.role)} replace />;

  const formError = errorMessage(login.error);

  return (
    <AuthCard title="Sign in" intro="Patients, clinicians and administrators sign in here.">
      <form onSubmit={form.onSubmit((values) => login.mutate(values))} noValidate>
        <Stack gap="sm">
          {notice && !formError ? (
            <Alert color="blue" variant="light" title="Signed out" role="status">
              {notice}
            </Alert>
          ) : null}
          <FormError message={formError} title="Could not sign in" />
          <TextInput label="Email" type="email" autoComplete="username" {...form.getInputProps('email')} withAsterisk data-autofocus />
          <PasswordField label="Password" autoComplete="current-password" {...form.getInputProps('password')} withAsterisk />
          <Button type="submit" loading={login.isPending} mt="xs">
            Sign in
          </Button>
          <Text size="sm" c="dimmed">
            New patient?{' '}
            <Anchor component={Link} to="/register">
              Register
            </Anchor>
          </Text>
        </Stack>
      </form>
    </AuthCard>
  );
}
