import { API_CLIENT_MAX_LIFETIME_DAYS, createApiClientInput, fhirResourceTypes, type ApiClient, type ApiClientStatus } from '@phos/shared';
import {
  Alert,
  Anchor,
  Badge,
  Button,
  Checkbox,
  Code,
  CopyButton,
  Group,
  Modal,
  Paper,
  SimpleGrid,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useId, useRef, useState } from 'react';
import { Link } from 'react-router';
import { FormError } from '../components/FormError';
import { FullPageLoader } from '../components/FullPageLoader';
import { errorMessage } from '../errors';
import { formatDateTime } from '../format';
import { showServerErrors, useSchemaForm } from '../forms';
import { useTRPC } from '../trpc';

const statusLabels: Record<ApiClientStatus, string> = { active: 'Active', expired: 'Expired', revoked: 'Revoked' };
const statusColors: Record<ApiClientStatus, string> = { active: 'teal', expired: 'gray', revoked: 'red' };

const CREATE_PATIENTS = 'system/Patient.c';

const emptyForm = { name: '', scopes: [] as string[], expiresAt: '' };
type ClientForm = typeof emptyForm;

/** A local calendar date (YYYY-MM-DD) `days` from today. */
function localDate(days: number): string {
  const date = new Date();
  date.setDate(date.getDate() + days);
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The chosen date means "through that day": the client expires at its end, local time. */
function toCreateInput({ name, scopes, expiresAt }: ClientForm) {
  if (expiresAt === '') return { name, scopes, expiresAt: undefined };
  const end = new Date(`${expiresAt}T23:59:59.999`);
  return { name, scopes, expiresAt: Number.isNaN(end.getTime()) ? expiresAt : end.toISOString() };
}

export function AdminApiClientsPage() {
  const trpc = useTRPC();
  const clients = useQuery(trpc.apiClients.list.queryOptions());
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiClient | null>(null);

  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1} size="h2">
          API clients
        </Title>
        <Group gap="md">
          <Button onClick={() => setCreating(true)}>New API client</Button>
          <Anchor component={Link} to="/admin" size="sm">
            Administration
          </Anchor>
        </Group>
      </Group>
      <Text size="sm" c="dimmed">
        Systems that read Phos through its FHIR API, each with a token of its own and the SMART scopes it was granted. Every read they make
        is recorded in the audit trail.
      </Text>
      {clients.isPending ? (
        <FullPageLoader />
      ) : clients.isError ? (
        <Alert color="red" variant="light" title="Could not load the API clients">
          {errorMessage(clients.error)}
        </Alert>
      ) : clients.data.clients.length === 0 ? (
        <Paper withBorder p="lg" radius="md">
          <Text size="sm">No API clients yet.</Text>
        </Paper>
      ) : (
        <Table.ScrollContainer minWidth={880}>
          <Table striped highlightOnHover aria-label="API clients">
            <Table.Thead>
              <Table.Tr>
                <Table.Th scope="col">Name</Table.Th>
                <Table.Th scope="col">Scopes</Table.Th>
                <Table.Th scope="col">Created</Table.Th>
                <Table.Th scope="col">Expires</Table.Th>
                <Table.Th scope="col">Last used</Table.Th>
                <Table.Th scope="col">Status</Table.Th>
                <Table.Th scope="col">Actions</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {clients.data.clients.map((client) => (
                <ClientRow key={client.id} client={client} onRevoke={setRevoking} />
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {/* A stray click beside the dialog must not throw away a token that is shown only once. */}
      <Modal opened={creating} onClose={() => setCreating(false)} title="New API client" centered size="lg" closeOnClickOutside={false}>
        {creating ? <CreateClient onDone={() => setCreating(false)} /> : null}
      </Modal>
      <Modal opened={revoking !== null} onClose={() => setRevoking(null)} title={revoking ? `Revoke ${revoking.name}?` : ''} centered>
        {revoking ? <ConfirmRevoke key={revoking.id} client={revoking} onDone={() => setRevoking(null)} /> : null}
      </Modal>
    </Stack>
  );
}

function When({ at, otherwise }: { at: string | null; otherwise: string }) {
  return at ? <time dateTime={at}>{formatDateTime(at)}</time> : <>{otherwise}</>;
}

function ClientRow({ client, onRevoke }: { client: ApiClient; onRevoke: (client: ApiClient) => void }) {
  return (
    <Table.Tr>
      <Table.Td>
        <Text size="sm" fw={500}>
          {client.name}
        </Text>
        <Text size="xs" c="dimmed">
          Token <Code>{client.tokenPrefix}…</Code>
        </Text>
      </Table.Td>
      <Table.Td>
        <Group gap={4}>
          {client.scopes.map((scope) => (
            <Badge key={scope} variant="light" tt="none" radius="sm">
              {scope}
            </Badge>
          ))}
        </Group>
      </Table.Td>
      <Table.Td>
        <When at={client.createdAt} otherwise="" />
        <Text size="xs" c="dimmed">
          by {client.createdByName}
        </Text>
      </Table.Td>
      <Table.Td>
        <When at={client.expiresAt} otherwise="Never" />
      </Table.Td>
      <Table.Td>
        <When at={client.lastUsedAt} otherwise="Never" />
      </Table.Td>
      <Table.Td>
        <Badge variant="light" color={statusColors[client.status]}>
          {statusLabels[client.status]}
        </Badge>
      </Table.Td>
      <Table.Td>
        {client.status === 'revoked' ? null : (
          <Button size="xs" variant="light" color="red" onClick={() => onRevoke(client)} aria-label={`Revoke ${client.name}`}>
            Revoke
          </Button>
        )}
      </Table.Td>
    </Table.Tr>
  );
}

function CreateClient({ onDone }: { onDone: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const form = useSchemaForm({ schema: createApiClientInput, initialValues: emptyForm, toInput: toCreateInput });
  const readId = useId();
  const writeId = useId();
  const create = useMutation(
    trpc.apiClients.create.mutationOptions({
      onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.apiClients.list.pathKey() }),
      onError: (error) => showServerErrors(form, error),
    }),
  );

  if (create.data) return <ShowTokenOnce name={create.data.client.name} token={create.data.token} onDone={onDone} />;

  return (
    <form onSubmit={form.onSubmit((values) => create.mutate(toCreateInput(values)))} noValidate>
      <Stack gap="sm">
        <FormError message={errorMessage(create.error)} title="Could not create the API client" />
        <TextInput
          label="Name"
          description="Which system this is, for example the lab's results feed"
          {...form.getInputProps('name')}
          withAsterisk
          data-autofocus
        />
        <Checkbox.Group
          label="Scopes"
          description="What the client may do, as SMART system scopes"
          {...form.getInputProps('scopes')}
          withAsterisk
        >
          <Stack gap="xs" mt="xs">
            <Text size="sm" fw={500} id={readId}>
              Read and search
            </Text>
            <SimpleGrid cols={{ base: 2, sm: 4 }} spacing="xs" role="group" aria-labelledby={readId}>
              {fhirResourceTypes.map((type) => (
                <Checkbox key={type} value={`system/${type}.rs`} label={type} />
              ))}
            </SimpleGrid>
            <Text size="sm" fw={500} id={writeId} mt="xs">
              Write
            </Text>
            <div role="group" aria-labelledby={writeId}>
              <Checkbox value={CREATE_PATIENTS} label="Create patients" description={CREATE_PATIENTS} />
            </div>
          </Stack>
        </Checkbox.Group>
        <TextInput
          label="Expires on"
          type="date"
          description={`Optional: the client works through this day. Leave empty for a client that lasts until it is revoked (at most ${API_CLIENT_MAX_LIFETIME_DAYS / 365} years ahead).`}
          min={localDate(0)}
          max={localDate(API_CLIENT_MAX_LIFETIME_DAYS - 1)}
          {...form.getInputProps('expiresAt')}
        />
        <Group justify="flex-end" gap="sm" mt="xs">
          <Button variant="default" onClick={onDone} disabled={create.isPending}>
            Cancel
          </Button>
          <Button type="submit" loading={create.isPending}>
            Create client
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function ShowTokenOnce({ name, token, onDone }: { name: string; token: string; onDone: () => void }) {
  const tokenField = useRef<HTMLInputElement>(null);
  // The dialog stays open while its form gives way to the token: focus goes to what replaced it.
  useEffect(() => tokenField.current?.focus(), []);
  return (
    <Stack gap="md">
      <Alert color="yellow" variant="light" title="Copy this token now: you will not see it again" role="status">
        {name} was created. Phos keeps only a hash of its token, so nobody can show it to you later. Put it in the system&apos;s secret
        store; if it is lost, revoke this client and create another.
      </Alert>
      <Group align="flex-end" gap="sm" wrap="nowrap">
        <TextInput
          label="Token"
          value={token}
          readOnly
          ref={tokenField}
          onFocus={(event) => event.currentTarget.select()}
          styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
          style={{ flex: 1 }}
        />
        <CopyButton value={token} timeout={3000}>
          {({ copied, copy }) => (
            <Button variant={copied ? 'light' : 'default'} color={copied ? 'teal' : undefined} onClick={copy}>
              {copied ? 'Copied' : 'Copy token'}
            </Button>
          )}
        </CopyButton>
      </Group>
      <Text size="sm" c="dimmed">
        The system sends it as <Code>Authorization: Bearer …</Code> on each FHIR request.
      </Text>
      <Group justify="flex-end">
        <Button onClick={onDone}>Done</Button>
      </Group>
    </Stack>
  );
}

function ConfirmRevoke({ client, onDone }: { client: ApiClient; onDone: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const revoke = useMutation(
    trpc.apiClients.revoke.mutationOptions({
      onSuccess: () => {
        onDone();
        void queryClient.invalidateQueries({ queryKey: trpc.apiClients.list.pathKey() });
      },
    }),
  );
  return (
    <Stack gap="md">
      <Text size="sm">
        Every request with its token is refused from now on. This cannot be undone: to let the system in again, create a new client.
      </Text>
      <FormError message={errorMessage(revoke.error)} title="Could not revoke the client" />
      <Group justify="flex-end" gap="sm">
        {/* Focus starts on the way out, not on the irreversible button. */}
        <Button variant="default" onClick={onDone} disabled={revoke.isPending} data-autofocus>
          Cancel
        </Button>
        <Button color="red" onClick={() => revoke.mutate({ id: client.id })} loading={revoke.isPending}>
          Revoke client
        </Button>
      </Group>
    </Stack>
  );
}
