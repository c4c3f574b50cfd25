import { acuityLevels, acuityTargetsSchema, createRoomInput, type AcuityTargets } from '@phos/shared';
import { Alert, Button, Group, NumberInput, Paper, SimpleGrid, Stack, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { FullPageLoader } from '../components/FullPageLoader';
import { errorMessage, type FieldCodes } from '../errors';
import { showServerErrors, useSchemaForm } from '../forms';
import { useTRPC } from '../trpc';
import { acuityNames } from './model';
import { FormError } from '../components/FormError';

function useQueueSettings() {
  const trpc = useTRPC();
  return useQuery(trpc.queue.settings.queryOptions(undefined, { staleTime: 0 }));
}

function useInvalidateSettings() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return () => queryClient.invalidateQueries({ queryKey: trpc.queue.settings.queryKey() });
}

/** A taken name is the name field's problem, not the form's. */
const roomFieldCodes: FieldCodes = { NAME_TAKEN: 'name' };

export function RoomsSection() {
  const trpc = useTRPC();
  const settings = useQueueSettings();
  const invalidate = useInvalidateSettings();
  const form = useSchemaForm({ schema: createRoomInput, initialValues: { name: '' } });
  const createRoom = useMutation(
    trpc.admin.createRoom.mutationOptions({
      onSuccess: async () => {
        form.reset();
        await invalidate();
      },
      onError: (error) => showServerErrors(form, error, roomFieldCodes),
    }),
  );
  const archiveRoom = useMutation(trpc.admin.archiveRoom.mutationOptions({ onSuccess: invalidate }));
  const formError = errorMessage(archiveRoom.error) ?? errorMessage(createRoom.error, roomFieldCodes);

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
        <FormError message={formError} />
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
        <form onSubmit={form.onSubmit((values) => createRoom.mutate(values))} noValidate>
          <Group align="flex-start" gap="sm">
            <TextInput label="Room name" {...form.getInputProps('name')} style={{ flex: 1 }} />
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
            {errorMessage(settings.error)}
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
  const form = useSchemaForm<Record<keyof AcuityTargets, number | string>>({ schema: acuityTargetsSchema, initialValues: saved });
  const [done, setDone] = useState(false);
  const save = useMutation(
    trpc.admin.setAcuityTargets.mutationOptions({
      onSuccess: async () => {
        setDone(true);
        await invalidate();
      },
      onError: (error) => showServerErrors(form, error),
    }),
  );
  const formError = errorMessage(save.error);

  function submit(values: Record<keyof AcuityTargets, number | string>) {
    setDone(false);
    const minutes = (level: keyof AcuityTargets) => Number(values[level]);
    save.mutate({ 1: minutes(1), 2: minutes(2), 3: minutes(3), 4: minutes(4), 5: minutes(5) });
  }

  return (
    <form onSubmit={form.onSubmit(submit)} onChange={() => setDone(false)} noValidate>
      <Stack gap="sm">
        {done ? (
          <Alert color="teal" variant="light" role="status">
            Targets saved.
          </Alert>
        ) : null}
        <FormError message={formError} />
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
              {...form.getInputProps(String(level))}
              // The schema's own words for an empty box are zod's type message, which reads like a fault.
              error={form.values[level] === '' && form.errors[level] ? 'Enter a number of minutes' : form.errors[level]}
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
