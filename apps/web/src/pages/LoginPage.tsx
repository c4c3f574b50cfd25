import { Alert, Anchor, Button, Stack, Text, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState, type SubmitEvent } from 'react';
import { Link, Navigate, useLocation, useNavigate, useSearchParams } from 'react-router';
import { homeFor, isSignedOutState, useMe, useSetSignedIn } from '../auth';
import { AuthCard } from '../components/AuthCard';
import { FullPageLoader } from '../components/FullPageLoader';
import { PasswordField } from '../components/PasswordField';
import { formErrorOf, useTRPC } from '../trpc';
import { useFieldErrors } from '../useFieldErrors';

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
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const returnTo = safeReturnPath(params.get('from'));

  const login = useMutation(
    trpc.auth.login.mutationOptions({
      onSuccess: async ({ user }) => {
        setSignedIn(user);
        await navigate(returnTo ?? homeFor(user.role), { replace: true });
      },
    }),
  );

  const { fieldErrors, markEdited } = useFieldErrors(login.error);

  if (me.isPending) return <FullPageLoader />;
  if (me.data && !login.isSuccess) return <Navigate to={homeFor(me.data.role)} replace />;

  const formError = formErrorOf(login.error);

  function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    login.mutate({ email, password });
  }

  return (
    <AuthCard title="Sign in" intro="Patients, clinicians and administrators sign in here.">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          {notice && !formError ? (
            <Alert color="blue" variant="light" title="Signed out" role="status">
              {notice}
            </Alert>
          ) : null}
          {formError ? (
            <Alert color="red" variant="light" title="Could not sign in">
              {formError}
            </Alert>
          ) : null}
          <TextInput
            label="Email"
            type="email"
            autoComplete="username"
            value={email}
            onChange={(event) => {
              markEdited('email');
              setEmail(event.currentTarget.value);
            }}
            error={fieldErrors.email}
            withAsterisk
            data-autofocus
          />
          <PasswordField
            label="Password"
            autoComplete="current-password"
            value={password}
            onChange={(event) => {
              markEdited('password');
              setPassword(event.currentTarget.value);
            }}
            error={fieldErrors.password}
            withAsterisk
          />
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
