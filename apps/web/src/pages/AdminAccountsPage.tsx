import { accountStatuses, resetPasswordInput, roles, type Account, type AccountStatus, type Role, type User } from '@phos/shared';
import { Alert, Anchor, Badge, Button, Group, Menu, Modal, NativeSelect, Paper, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useDeferredValue, useMemo, useState } from 'react';
import { Link } from 'react-router';
import { FullPageLoader } from '../components/FullPageLoader';
import { NewPasswordField } from '../components/NewPasswordField';
import { formatDateTime, fullName } from '../format';
import { errorMessage } from '../errors';
import { showServerErrors, useSchemaForm } from '../forms';
import { useTRPC } from '../trpc';
import { FormError } from '../components/FormError';

/** The table shows this many rows; the search narrows a long list of patients down. */
const MAX_ROWS = 200;

type Dialog =
  { kind: 'disable' | 'enable'; account: Account } | { kind: 'role'; account: Account; to: Role } | { kind: 'password'; account: Account };

const statusLabels: Record<AccountStatus, string> = { active: 'Active', disabled: 'Disabled' };

function isRole(value: string): value is Role {
  return (roles as readonly string[]).includes(value);
}

function isStatus(value: string): value is AccountStatus {
  return (accountStatuses as readonly string[]).includes(value);
}

/** The other staff role: an Admin's account management moves people between these two. */
function otherStaffRole(role: Role): Role | null {
  if (role === 'Provider') return 'Admin';
  if (role === 'Admin') return 'Provider';
  return null;
}

export function AdminAccountsPage({ user }: { user: User }) {
  const trpc = useTRPC();
  const [role, setRole] = useState<Role | undefined>(undefined);
  const [status, setStatus] = useState<AccountStatus | undefined>(undefined);
  const [search, setSearch] = useState('');
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const accounts = useQuery(trpc.admin.listAccounts.queryOptions({ role, status }));
  const deferredSearch = useDeferredValue(search.trim().toLowerCase());
  const matching = useMemo(
    () =>
      (accounts.data?.accounts ?? []).filter(
        (account) =>
          deferredSearch === '' ||
          fullName(account).toLowerCase().includes(deferredSearch) ||
          account.email.toLowerCase().includes(deferredSearch),
      ),
    [accounts.data, deferredSearch],
  );
  const shown = matching.slice(0, MAX_ROWS);

  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Accounts
        </Title>
        <Anchor component={Link} to="/admin" size="sm">
          Administration
        </Anchor>
      </Group>
      <Paper withBorder p="md" radius="md">
        <Group align="flex-end" gap="sm" wrap="wrap">
          <NativeSelect
            label="Role"
            data={[{ value: '', label: 'All roles' }, ...roles.map((value) => ({ value, label: value }))]}
            value={role ?? ''}
            onChange={(event) => {
              const value = event.currentTarget.value;
              setRole(isRole(value) ? value : undefined);
            }}
          />
          <NativeSelect
            label="Status"
            data={[{ value: '', label: 'Any status' }, ...accountStatuses.map((value) => ({ value, label: statusLabels[value] }))]}
            value={status ?? ''}
            onChange={(event) => {
              const value = event.currentTarget.value;
              setStatus(isStatus(value) ? value : undefined);
            }}
          />
          <TextInput
            label="Search"
            placeholder="Name or email"
            value={search}
            onChange={(event) => setSearch(event.currentTarget.value)}
            style={{ flex: 1, minWidth: 200 }}
          />
        </Group>
      </Paper>
      {accounts.isPending ? (
        <FullPageLoader />
      ) : accounts.isError ? (
        <Alert color="red" variant="light" title="Could not load the accounts">
          {errorMessage(accounts.error)}
        </Alert>
      ) : (
        <>
          <Text size="sm" c="dimmed" role="status">
            {matching.length > shown.length
              ? `Showing ${shown.length} of ${matching.length} accounts: search to narrow them down.`
              : `${matching.length} ${matching.length === 1 ? 'account' : 'accounts'}`}
          </Text>
          <Table.ScrollContainer minWidth={720}>
            <Table striped highlightOnHover aria-label="Accounts">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th scope="col">Name</Table.Th>
                  <Table.Th scope="col">Email</Table.Th>
                  <Table.Th scope="col">Role</Table.Th>
                  <Table.Th scope="col">Status</Table.Th>
                  <Table.Th scope="col">Created</Table.Th>
                  <Table.Th scope="col">Actions</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {shown.map((account) => (
                  <AccountRow key={account.id} account={account} isSelf={account.id === user.id} onAction={setDialog} />
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </>
      )}
      <AccountDialog dialog={dialog} onClose={() => setDialog(null)} />
    </Stack>
  );
}

function AccountRow({ account, isSelf, onAction }: { account: Account; isSelf: boolean; onAction: (dialog: Dialog) => void }) {
  const name = fullName(account);
  const nextRole = otherStaffRole(account.role);
  return (
    <Table.Tr>
      <Table.Td>
        <Text size="sm" fw={500}>
          {name}
          {isSelf ? (
            <Badge ml="xs" size="xs" variant="outline">
              You
            </Badge>
          ) : null}
        </Text>
      </Table.Td>
      <Table.Td style={{ overflowWrap: 'anywhere' }}>{account.email}</Table.Td>
      <Table.Td>{account.role}</Table.Td>
      <Table.Td>
        <Badge variant="light" color={account.status === 'active' ? 'teal' : 'gray'}>
          {statusLabels[account.status]}
        </Badge>
      </Table.Td>
      <Table.Td>
        <time dateTime={account.createdAt}>{formatDateTime(account.createdAt)}</time>
      </Table.Td>
      <Table.Td>
        {/* An Admin cannot lock themselves out: no disabling or demoting their own account. */}
        <Menu position="bottom-end" withinPortal>
          <Menu.Target>
            <Button size="xs" variant="default" aria-label={`Actions for ${name}`}>
              Actions
            </Button>
          </Menu.Target>
          <Menu.Dropdown>
            {account.status === 'active' ? (
              <Menu.Item color="red" disabled={isSelf} onClick={() => onAction({ kind: 'disable', account })}>
                Disable account
              </Menu.Item>
            ) : (
              <Menu.Item onClick={() => onAction({ kind: 'enable', account })}>Re-enable account</Menu.Item>
            )}
            {nextRole && !isSelf ? (
              <Menu.Item onClick={() => onAction({ kind: 'role', account, to: nextRole })}>{`Make ${nextRole}`}</Menu.Item>
            ) : null}
            <Menu.Item onClick={() => onAction({ kind: 'password', account })}>Reset password…</Menu.Item>
          </Menu.Dropdown>
        </Menu>
      </Table.Td>
    </Table.Tr>
  );
}

function dialogTitle(dialog: Dialog): string {
  const name = fullName(dialog.account);
  switch (dialog.kind) {
    case 'disable':
      return `Disable ${name}?`;
    case 'enable':
      return `Re-enable ${name}?`;
    case 'role':
      return `Make ${name} ${dialog.to === 'Admin' ? 'an' : 'a'} ${dialog.to}?`;
    case 'password':
      return `Reset the password of ${name}`;
  }
}

function AccountDialog({ dialog, onClose }: { dialog: Dialog | null; onClose: () => void }) {
  return (
    <Modal opened={dialog !== null} onClose={onClose} title={dialog ? dialogTitle(dialog) : ''} centered>
      {dialog?.kind === 'password' ? (
        <ResetPasswordForm key={dialog.account.id} account={dialog.account} onDone={onClose} />
      ) : dialog ? (
        <ConfirmChange key={`${dialog.kind}-${dialog.account.id}`} dialog={dialog} onDone={onClose} />
      ) : null}
    </Modal>
  );
}

const consequences = {
  disable: 'They are signed out at once, their open pages stop updating, and they cannot sign in until an Admin re-enables the account.',
  enable: 'They can sign in again with their current password.',
  role: 'They are signed out at once and sign in again with the new role.',
} as const;

const confirmLabels = { disable: 'Disable account', enable: 'Re-enable account', role: 'Change role' } as const;

function ConfirmChange({ dialog, onDone }: { dialog: Exclude<Dialog, { kind: 'password' }>; onDone: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const options = {
    onSuccess: () => {
      onDone();
      void queryClient.invalidateQueries({ queryKey: trpc.admin.listAccounts.pathKey() });
    },
  };
  const disable = useMutation(trpc.admin.disableAccount.mutationOptions(options));
  const enable = useMutation(trpc.admin.enableAccount.mutationOptions(options));
  const changeRole = useMutation(trpc.admin.changeRole.mutationOptions(options));
  const error = disable.error ?? enable.error ?? changeRole.error;
  const busy = disable.isPending || enable.isPending || changeRole.isPending;

  function confirm() {
    const id = dialog.account.id;
    switch (dialog.kind) {
      case 'disable':
        disable.mutate({ id });
        break;
      case 'enable':
        enable.mutate({ id });
        break;
      case 'role':
        changeRole.mutate({ id, role: dialog.to });
        break;
    }
  }

  return (
    <Stack gap="md">
      <Text size="sm">{consequences[dialog.kind]}</Text>
      {error ? (
        <Alert color="red" variant="light" title="Could not change the account">
          {errorMessage(error)}
        </Alert>
      ) : null}
      <Group justify="flex-end" gap="sm">
        <Button variant="default" onClick={onDone} disabled={busy}>
          Cancel
        </Button>
        <Button color={dialog.kind === 'disable' ? 'red' : undefined} onClick={confirm} loading={busy} data-autofocus>
          {confirmLabels[dialog.kind]}
        </Button>
      </Group>
    </Stack>
  );
}

function ResetPasswordForm({ account, onDone }: { account: Account; onDone: () => void }) {
  const trpc = useTRPC();
  const form = useSchemaForm({
    schema: resetPasswordInput,
    initialValues: { password: '' },
    toInput: (values) => ({ ...values, id: account.id }),
  });
  const [done, setDone] = useState(false);
  const reset = useMutation(
    trpc.admin.resetPassword.mutationOptions({ onSuccess: () => setDone(true), onError: (error) => showServerErrors(form, error) }),
  );
  const formError = errorMessage(reset.error);

  if (done) {
    return (
      <Stack gap="md">
        <Alert color="teal" variant="light" title="Password reset" role="status">
          {fullName(account)} was signed out everywhere and signs in with the new password. Give it to them in person or by phone, never by
          email.
        </Alert>
        <Group justify="flex-end">
          <Button onClick={onDone} data-autofocus>
            Done
          </Button>
        </Group>
      </Stack>
    );
  }

  return (
    <form onSubmit={form.onSubmit((values) => reset.mutate({ ...values, id: account.id }))} noValidate>
      <Stack gap="sm">
        <Text size="sm">Their sessions end at once; they sign in with the password you set here.</Text>
        <FormError message={formError} title="Could not reset the password" />
        <NewPasswordField label="New password" {...form.getInputProps('password')} owner={account} withAsterisk data-autofocus />
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={onDone} disabled={reset.isPending}>
            Cancel
          </Button>
          <Button type="submit" loading={reset.isPending}>
            Reset password
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
