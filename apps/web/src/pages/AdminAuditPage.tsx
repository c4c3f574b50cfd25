import { auditFilterSchema, todayIso, type AuditFilter, type AuditRow } from '@phos/shared';
import { Alert, Anchor, Badge, Button, Group, Paper, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useInfiniteQuery, useMutation, useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { Link } from 'react-router';
import { FullPageLoader } from '../components/FullPageLoader';
import { formatDateTime, fullName } from '../format';
import { errorMessage, fieldErrorsOf } from '../errors';
import { useSchemaForm } from '../forms';
import { useTRPC, useTRPCClient } from '../trpc';

const PAGE_SIZE = 50;

const emptyForm = { patientId: '', userId: '', from: '', to: '' };
type FilterForm = typeof emptyForm;

/** The form as the server's filter: blanks left out, local date-times as instants. */
function filterOf(form: FilterForm): AuditFilter {
  const instant = (local: string) => (local === '' ? undefined : new Date(local).toISOString());
  return {
    patientId: form.patientId.trim() === '' ? undefined : form.patientId.trim(),
    userId: form.userId === '' ? undefined : form.userId,
    from: instant(form.from),
    to: instant(form.to),
  };
}

/** Hands the CSV to the browser as a file; nothing of it stays in the page's cache. */
function download(csv: string, fileName: string): void {
  const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 0);
}

/** Who read or changed what: search the audit trail by patient, user and time, and export it. */
export function AdminAuditPage() {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const form = useSchemaForm({ schema: auditFilterSchema, initialValues: emptyForm, toInput: filterOf });
  const [filter, setFilter] = useState<AuditFilter>({});
  const accounts = useQuery(trpc.admin.listAccounts.queryOptions(undefined, { staleTime: 5 * 60_000 }));
  const userOptions = useMemo(
    () =>
      (accounts.data?.accounts ?? []).map((account) => ({
        value: account.id,
        label: `${fullName(account)} (${account.role}) · ${account.email}`,
      })),
    [accounts.data],
  );

  const search = useInfiniteQuery({
    queryKey: [...trpc.audit.search.pathKey(), filter],
    queryFn: ({ pageParam }) => client.audit.search.query({ ...filter, before: pageParam, limit: PAGE_SIZE }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (page) => page.nextBefore ?? undefined,
    staleTime: 0,
  });
  const exportCsv = useMutation({
    mutationFn: () => client.audit.export.query(filter),
    onSuccess: ({ csv }) => download(csv, `phos-audit-${todayIso()}.csv`),
  });

  const rows = search.data?.pages.flatMap((page) => page.rows) ?? [];
  // The search is a query, not a submit the form awaits: what the server refused shows beside the form's own checks.
  const serverErrors = fieldErrorsOf(search.error);
  const field = (name: keyof FilterForm) => {
    const props = form.getInputProps(name);
    return { ...props, error: form.errors[name] ?? serverErrors[name] };
  };

  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Audit trail
        </Title>
        <Anchor component={Link} to="/admin" size="sm">
          Administration
        </Anchor>
      </Group>
      <Text size="sm" c="dimmed">
        Every read and change of patient data, sign-ins and account changes, newest first. Your searches are recorded here too.
      </Text>
      <Paper withBorder p="md" radius="md">
        <form onSubmit={form.onSubmit((values) => setFilter(filterOf(values)))} noValidate aria-label="Search the audit trail">
          <Group align="flex-start" gap="sm" wrap="wrap">
            <TextInput label="Patient id" placeholder="e.g. 3f2a…" {...field('patientId')} w={320} />
            <Select
              label="User"
              placeholder={accounts.isPending ? 'Loading accounts…' : 'Anyone'}
              data={userOptions}
              {...field('userId')}
              value={form.values.userId === '' ? null : form.values.userId}
              onChange={(value: string | null) => form.setFieldValue('userId', value ?? '')}
              searchable
              clearable
              limit={50}
              nothingFoundMessage="No such account"
              w={320}
            />
            <TextInput label="From" type="datetime-local" {...field('from')} />
            <TextInput label="To" type="datetime-local" {...field('to')} />
          </Group>
          <Group gap="sm" mt="md">
            <Button type="submit">Search</Button>
            <Button
              variant="default"
              onClick={() => {
                form.reset();
                setFilter({});
              }}
            >
              Clear
            </Button>
            <Button variant="light" onClick={() => exportCsv.mutate()} loading={exportCsv.isPending} ml="auto">
              Export CSV
            </Button>
          </Group>
        </form>
      </Paper>
      {exportCsv.data?.truncated ? (
        <Alert color="yellow" variant="light" title="Export cut short" role="status">
          The file holds the newest {exportCsv.data.rows.toLocaleString()} rows only: narrow the search to export the rest.
        </Alert>
      ) : null}
      {exportCsv.isError ? (
        <Alert color="red" variant="light" title="Could not export">
          {errorMessage(exportCsv.error)}
        </Alert>
      ) : null}
      {search.isPending ? (
        <FullPageLoader />
      ) : search.isError ? (
        Object.keys(serverErrors).length > 0 ? null : (
          <Alert color="red" variant="light" title="Could not search the audit trail">
            {errorMessage(search.error)}
          </Alert>
        )
      ) : rows.length === 0 ? (
        <Text c="dimmed">Nothing recorded matches this search.</Text>
      ) : (
        <AuditTable rows={rows} />
      )}
      {search.hasNextPage ? (
        <Group justify="center">
          <Button variant="default" onClick={() => void search.fetchNextPage()} loading={search.isFetchingNextPage}>
            Load more
          </Button>
        </Group>
      ) : null}
    </Stack>
  );
}

function AuditTable({ rows }: { rows: readonly AuditRow[] }) {
  return (
    <Table.ScrollContainer minWidth={960}>
      <Table striped aria-label="Audit trail, newest first" fz="sm">
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">Time</Table.Th>
            <Table.Th scope="col">User</Table.Th>
            <Table.Th scope="col">Action</Table.Th>
            <Table.Th scope="col">Patients</Table.Th>
            <Table.Th scope="col">Outcome</Table.Th>
            <Table.Th scope="col">Address</Table.Th>
            <Table.Th scope="col">Request id</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((row) => (
            <Table.Tr key={row.id}>
              <Table.Td style={{ whiteSpace: 'nowrap' }}>
                <time dateTime={row.at}>{formatDateTime(row.at)}</time>
              </Table.Td>
              <Table.Td>
                {row.userId ? (
                  <>
                    {row.userName ?? 'Unknown user'}
                    {row.role ? (
                      <Badge ml={6} size="xs" variant="light">
                        {row.role}
                      </Badge>
                    ) : null}
                  </>
                ) : (
                  <Text span c="dimmed" inherit>
                    Not signed in
                  </Text>
                )}
              </Table.Td>
              <Table.Td>
                <code>{row.action}</code>
              </Table.Td>
              <Table.Td>
                <Stack gap={2}>
                  {row.patientIds.map((patientId) => (
                    <Anchor key={patientId} component={Link} to={`/patients/${patientId}`} inherit aria-label={`Patient ${patientId}`}>
                      <code>{patientId.slice(0, 8)}</code>
                    </Anchor>
                  ))}
                </Stack>
              </Table.Td>
              <Table.Td>
                <Badge variant="light" color={row.outcome === 'allowed' ? 'teal' : 'red'}>
                  {row.outcome === 'allowed' ? 'Allowed' : 'Refused'}
                </Badge>
              </Table.Td>
              <Table.Td>{row.ip ?? '—'}</Table.Td>
              <Table.Td>
                <code style={{ overflowWrap: 'anywhere' }}>{row.requestId ?? '—'}</code>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
