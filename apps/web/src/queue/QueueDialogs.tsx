import {
  acuityLevels,
  acuitySchema,
  transitionInput,
  triageInput,
  type Acuity,
  type QueueEntry,
  type Room,
  type StaffRef,
} from '@phos/shared';
import { Button, Group, Modal, NativeSelect, Stack, Textarea } from '@mantine/core';
import { useState } from 'react';
import { fullName } from '../format';
import { errorMessage } from '../errors';
import { showServerErrors, useSchemaForm } from '../forms';
import { acuityNames } from './model';
import { FormError } from '../components/FormError';

const closeLabel = { 'aria-label': 'Close' };

/** Resolves once the dialog may close; throws what the dialog itself should show. */
type Submit<A extends unknown[]> = (entry: QueueEntry, ...args: A) => Promise<unknown>;

function useDialogSubmit(onClose: () => void, onError: (error: unknown) => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function run(write: () => Promise<unknown>) {
    setBusy(true);
    setError(null);
    try {
      await write();
      onClose();
    } catch (caught) {
      setError(caught);
      onError(caught);
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, run };
}

interface SendDialogProps {
  entry: QueueEntry | null;
  clinicians: readonly StaffRef[];
  rooms: readonly Room[];
  defaultClinicianId: string | null;
  onSubmit: Submit<[clinicianId: string, roomId: string | null]>;
  onClose: () => void;
}

export function SendToClinicianDialog({ entry, onClose, ...rest }: SendDialogProps) {
  return (
    <Modal
      opened={entry !== null}
      onClose={onClose}
      title={entry ? `Send ${fullName(entry)} to a clinician` : ''}
      centered
      closeButtonProps={closeLabel}
    >
      {entry ? <SendForm key={`${entry.id}:${entry.version}`} entry={entry} onClose={onClose} {...rest} /> : null}
    </Modal>
  );
}

function SendForm({ entry, clinicians, rooms, defaultClinicianId, onSubmit, onClose }: SendDialogProps & { entry: QueueEntry }) {
  const toInput = ({ clinicianId, roomId }: { clinicianId: string; roomId: string }) => ({
    entryId: entry.id,
    expectedVersion: entry.version,
    to: 'with_clinician' as const,
    clinicianId,
    roomId: roomId === '' ? null : roomId,
  });
  const form = useSchemaForm({
    schema: transitionInput,
    initialValues: {
      clinicianId: defaultClinicianId && clinicians.some((clinician) => clinician.id === defaultClinicianId) ? defaultClinicianId : '',
      roomId: entry.room?.id ?? '',
    },
    toInput,
    // The server would default to the caller; the desk names who sees the patient.
    also: ({ clinicianId }) => (clinicianId === '' ? { clinicianId: 'Choose a clinician' } : {}),
  });
  const { busy, error, run } = useDialogSubmit(onClose, (caught) => showServerErrors(form, caught));
  const formError = errorMessage(error);

  function submit(values: typeof form.values) {
    const { clinicianId, roomId } = toInput(values);
    void run(() => onSubmit(entry, clinicianId, roomId));
  }

  return (
    <form onSubmit={form.onSubmit(submit)} noValidate>
      <Stack gap="sm">
        <FormError message={formError} />
        <NativeSelect
          label="Clinician"
          data={[{ value: '', label: 'Choose a clinician', disabled: true }, ...clinicians.map((c) => ({ value: c.id, label: c.name }))]}
          {...form.getInputProps('clinicianId')}
          withAsterisk
          data-autofocus
        />
        <NativeSelect
          label="Room"
          description="Optional"
          data={[{ value: '', label: 'No room' }, ...rooms.map((room) => ({ value: room.id, label: room.name }))]}
          {...form.getInputProps('roomId')}
        />
        <Group justify="flex-end" gap="sm" mt="xs">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={busy}>
            Send
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

interface TriageDialogProps {
  entry: QueueEntry | null;
  onSubmit: Submit<[acuity: Acuity, note: string]>;
  onClose: () => void;
}

export function TriageDialog({ entry, onClose, onSubmit }: TriageDialogProps) {
  return (
    <Modal
      opened={entry !== null}
      onClose={onClose}
      title={entry ? `Triage ${fullName(entry)}` : ''}
      centered
      closeButtonProps={closeLabel}
    >
      {entry ? <TriageForm key={`${entry.id}:${entry.version}`} entry={entry} onSubmit={onSubmit} onClose={onClose} /> : null}
    </Modal>
  );
}

function TriageForm({ entry, onSubmit, onClose }: TriageDialogProps & { entry: QueueEntry }) {
  const toInput = ({ acuity, note }: { acuity: string; note: string }) => ({
    entryId: entry.id,
    expectedVersion: entry.version,
    acuity: Number(acuity),
    note: note.trim() === '' ? undefined : note,
  });
  const form = useSchemaForm({
    schema: triageInput,
    initialValues: { acuity: entry.acuity === null ? '' : String(entry.acuity), note: '' },
    toInput,
    // An unchosen level would read as zod's "Invalid input".
    also: ({ acuity }) => (acuity === '' ? { acuity: 'Choose an acuity level' } : {}),
  });
  const { busy, error, run } = useDialogSubmit(onClose, (caught) => showServerErrors(form, caught));
  const formError = errorMessage(error);

  function submit(values: typeof form.values) {
    const parsed = acuitySchema.safeParse(Number(values.acuity));
    if (parsed.success) void run(() => onSubmit(entry, parsed.data, values.note));
  }

  return (
    <form onSubmit={form.onSubmit(submit)} noValidate>
      <Stack gap="sm">
        <FormError message={formError} />
        <NativeSelect
          label="Acuity (ESI)"
          data={[
            { value: '', label: 'Choose a level', disabled: true },
            ...acuityLevels.map((level) => ({ value: String(level), label: `ESI ${level} – ${acuityNames[level]}` })),
          ]}
          {...form.getInputProps('acuity')}
          withAsterisk
          data-autofocus
        />
        <Textarea label="Triage note" description="Optional" autosize minRows={3} maxRows={8} {...form.getInputProps('note')} />
        <Group justify="flex-end" gap="sm" mt="xs">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={busy}>
            Save triage
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
