import { acuityLevels, type AcuityTargets } from '@phos/shared';
import { Alert, Button, Group, NumberInput, Paper, SimpleGrid, Stack, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type SubmitEvent } from 'react';
import { FullPageLoader } from '../components/FullPageLoader';
import { formErrorOf, useTRPC } from '../trpc';
import { useFieldErrors } from '../useFieldErrors';
import { acuityNames } from './model';

function useQueueSettings() {
  const trpc = useTRPC();
  return useQuery(trpc.queue.settings.queryOptions(undefined, { staleTime: 0 }));
}

function useInvalidateSettings() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return () => queryClient.invalidateQueries({ queryKey: trpc.queue.settings.queryKey() });
}

export function RoomsSection() {
  const trpc = useTRPC();
  const settings = useQueueSettings();
  const invalidate = useInvalidateSettings();
  const [name, setName] = useState('');
  const createRoom = useMutation(
    trpc.admin.createRoom.mutationOptions({
      onSuccess: async () => {
        setName('');
        await invalidate();
      },
    }),
  );
  const archiveRoom = useMutation(trpc.admin.archiveRoom.mutationOptions({ onSuccess: invalidate }));
  const { fieldErrors, markEdited } = useFieldErrors(createRoom.error);
  const formError = formErrorOf(archiveRoom.error) ?? (createRoom.error && !fieldErrors.name ? formErrorOf(createRoom.error) : null);

  function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    createRoom.mutate({ name });
  }

  const rooms = settings.data?.rooms ?? [];
  return (
    <Paper withBorder p="lg" radius="md" component="section" aria-labelledby="rooms-title">
      <Stack gap="sm">
        <Title order={2} size="h4" id="rooms-title">
          Rooms
        </Title>
        <Text size="sm" c="dimmed">
          Where clinicians see patients. Archiving a room keeps it in past visits but stops offering it.
        </Text>
        {formError ? (
          <Alert color="red" variant="light">
            {formError}
          </Alert>
        ) : null}
        {settings.isPending ? (
          <FullPageLoader />
        ) : rooms.length === 0 ? (
          <Text size="sm">No rooms yet.</Text>
        ) : (
          <Stack component="ul" gap={4} m={0} p={0} style={{ listStyle: 'none' }}>
            {rooms.map((room) => (
              <li key={room.id}>
                <Group justify="space-between" wrap="nowrap">
                  <Text size="sm">{room.name}</Text>
                  <Button
                    size="xs"
                    variant="subtle"
                    color="red"
                    aria-label={`Archive ${room.name}`}
                    loading={archiveRoom.isPending && archiveRoom.variables.id === room.id}
                    onClick={() => archiveRoom.mutate({ id: room.id })}
                  >
                    Archive
                  </Button>
                </Group>
              </li>
            ))}
          </Stack>
        )}
        <form onSubmit={submit} noValidate>
          <Group align="flex-start" gap="sm">
            <TextInput
              label="Room name"
              value={name}
              onChange={(event) => {
                markEdited('name');
                setName(event.currentTarget.value);
              }}
              error={fieldErrors.name}
              style={{ flex: 1 }}
            />
            <Button type="submit" mt={25} loading={createRoom.isPending}>
              Add room
            </Button>
          </Group>
        </form>
      </Stack>
    </Paper>
  );
}

export function AcuityTargetsSection() {
  const settings = useQueueSettings();
  return (
    <Paper withBorder p="lg" radius="md" component="section" aria-labelledby="targets-title">
      <Stack gap="sm">
        <Title order={2} size="h4" id="targets-title">
          Acuity targets
        </Title>
        <Text size="sm" c="dimmed">
          Minutes within which a patient of each level should be seen. Patients waiting longer show as past target.
        </Text>
        {settings.isPending ? (
          <FullPageLoader />
        ) : settings.isError ? (
          <Alert color="red" variant="light">
            {formErrorOf(settings.error)}
          </Alert>
        ) : (
          <TargetsForm saved={settings.data.targets} />
        )}
      </Stack>
    </Paper>
  );
}

/** Starts from the targets as loaded; after a save the form already shows what was saved. */
function TargetsForm({ saved }: { saved: AcuityTargets }) {
  const trpc = useTRPC();
  const invalidate = useInvalidateSettings();
  const [targets, setTargets] = useState<Record<keyof AcuityTargets, number | string>>(saved);
  const [done, setDone] = useState(false);
  const save = useMutation(
    trpc.admin.setAcuityTargets.mutationOptions({
      onSuccess: async () => {
        setDone(true);
        await invalidate();
      },
    }),
  );
  const { fieldErrors, markEdited } = useFieldErrors(save.error);
  const [empty, setEmpty] = useState<ReadonlySet<string>>(new Set());
  const formError = formErrorOf(save.error);

  function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    setDone(false);
    const missing = new Set(acuityLevels.filter((level) => targets[level] === '').map(String));
    setEmpty(missing);
    if (missing.size > 0) return;
    const minutes = (level: keyof AcuityTargets) => Number(targets[level]);
    save.mutate({ 1: minutes(1), 2: minutes(2), 3: minutes(3), 4: minutes(4), 5: minutes(5) });
  }

  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="sm">
        {done ? (
          <Alert color="teal" variant="light" role="status">
            Targets saved.
          </Alert>
        ) : null}
        {formError ? (
          <Alert color="red" variant="light">
            {formError}
          </Alert>
        ) : null}
        <SimpleGrid cols={{ base: 1, xs: 2, sm: 3 }} spacing="sm">
          {acuityLevels.map((level) => (
            <NumberInput
              key={level}
              label={`ESI ${level} target (minutes)`}
              description={acuityNames[level]}
              min={0}
              max={1440}
              allowDecimal={false}
              allowNegative={false}
              value={targets[level]}
              onChange={(value) => {
                setDone(false);
                setEmpty((current) => (current.has(String(level)) ? new Set([...current].filter((key) => key !== String(level))) : current));
                markEdited(String(level));
                setTargets((current) => ({ ...current, [level]: value }));
              }}
              error={empty.has(String(level)) ? 'Enter a number of minutes' : fieldErrors[String(level)]}
            />
          ))}
        </SimpleGrid>
        <Group justify="flex-end">
          <Button type="submit" loading={save.isPending}>
            Save targets
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
