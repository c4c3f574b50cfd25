import { staffRoles } from '@phos/shared';
import { Anchor, AppShell, Badge, Button, Group, Text } from '@mantine/core';
import { Link } from 'react-router';
import { homeFor, useMe, useSignOut } from '../auth';
import { fullName } from '../format';
import { InboxButton } from '../notifications/InboxButton';

export function AppHeader() {
  const me = useMe();
  const signOut = useSignOut();
  const user = me.data;
  return (
    <AppShell.Header px="md">
      <Group h="100%" justify="space-between" maw={1200} mx="auto" wrap="nowrap">
        <Anchor component={Link} to={user ? homeFor(user.role) : '/'} underline="never" c="blue.8" fw={700} fz="xl">
          Phos
        </Anchor>
        {user ? (
          <Group gap="sm" wrap="nowrap" component="nav" aria-label="Account">
            {staffRoles.includes(user.role) ? <InboxButton /> : null}
            <Anchor
              component={Link}
              to="/account"
              size="sm"
              fw={500}
              data-testid="signed-in-user"
              aria-label={`Your account: ${fullName(user)}`}
            >
              <Text span inherit visibleFrom="xs">
                {fullName(user)}
              </Text>
              <Text span inherit hiddenFrom="xs">
                Account
              </Text>
            </Anchor>
            <Badge variant="light" color={user.role === 'Patient' ? 'teal' : 'blue'}>
              {user.role}
            </Badge>
            <Button variant="default" size="xs" onClick={() => signOut.mutate()} loading={signOut.isPending}>
              Sign out
            </Button>
          </Group>
        ) : me.isPending ? null : (
          <Group gap="sm" component="nav" aria-label="Account">
            <Anchor component={Link} to="/login" size="sm">
              Sign in
            </Anchor>
            <Button component={Link} to="/register" size="xs" variant="light">
              Register
            </Button>
          </Group>
        )}
      </Group>
    </AppShell.Header>
  );
}
