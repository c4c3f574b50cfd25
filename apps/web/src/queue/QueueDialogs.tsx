import { acuityLevels, acuitySchema, type Acuity, type QueueEntry, type Room, type StaffRef } from '@phos/shared';
import { Alert, Button, Group, Modal, NativeSelect, Stack, Textarea } from '@mantine/core';
import { useState, type SubmitEvent } from 'react';
import { fullName } from '../format';
import { formErrorOf } from '../trpc';
import { useFieldErrors } from '../useFieldErrors';
import { acuityNames } from './model';

const closeLabel = { 'aria-label': 'Close' };

/** Resolves once the dialog may close; throws what the dialog itself should show. */
type Submit<A extends unknown[]> = (entry: QueueEntry, ...args: A) => Promise<unknown>;

function useDialogSubmit(onClose: () => void) {
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
    <Modal opened={entry !== null} onClose={onClose} title={entry ? `Send ${fullName(entry)} to a clinician` : ''} centered closeButtonProps={closeLabel}>
      {entry ? <SendForm key={`${entry.id}:${entry.version}`} entry={entry} onClose={onClose} {...rest} /> : null}
    </Modal>
  );
}

function SendForm({ entry, clinicians, rooms, defaultClinicianId, onSubmit, onClose }: SendDialogProps & { entry: QueueEntry }) {
  const [clinicianId, setClinicianId] = useState(
    defaultClinicianId && clinicians.some((clinician) => clinician.id === defaultClinicianId) ? defaultClinicianId : '',
  );
  const [roomId, setRoomId] = useState(entry.room?.id ?? '');
  const { busy, error, run } = useDialogSubmit(onClose);
  const { fieldErrors, markEdited } = useFieldErrors(error);
  const [missing, setMissing] = useState(false);
  const formError = formErrorOf(error);

  function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    if (clinicianId === '') {
      setMissing(true);
      return;
    }
    void run(() => onSubmit(entry, clinicianId, roomId === '' ? null : roomId));
  }

  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="sm">
        {formError ? (
          <Alert color="red" variant="light">
            {formError}
          </Alert>
        ) : null}
        <NativeSelect
          label="Clinician"
          data={[{ value: '', label: 'Choose a clinician', disabled: true }, ...clinicians.map((c) => ({ value: c.id, label: c.name }))]}
          value={clinicianId}
          onChange={(event) => {
            setMissing(false);
            markEdited('clinicianId');
            setClinicianId(event.currentTarget.value);
          }}
          error={missing ? 'Choose a clinician' : fieldErrors.clinicianId}
          withAsterisk
          data-autofocus
        />
        <NativeSelect
          label="Room"
          description="Optional"
          data={[{ value: '', label: 'No room' }, ...rooms.map((room) => ({ value: room.id, label: room.name }))]}
          value={roomId}
          onChange={(event) => {
            markEdited('roomId');
            setRoomId(event.currentTarget.value);
          }}
          error={fieldErrors.roomId}
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
    <Modal opened={entry !== null} onClose={onClose} title={entry ? `Triage ${fullName(entry)}` : ''} centered closeButtonProps={closeLabel}>
      {entry ? <TriageForm key={`${entry.id}:${entry.version}`} entry={entry} onSubmit={onSubmit} onClose={onClose} /> : null}
    </Modal>
  );
}

function TriageForm({ entry, onSubmit, onClose }: TriageDialogProps & { entry: QueueEntry }) {
  const [acuity, setAcuity] = useState(entry.acuity === null ? '' : String(entry.acuity));
  const [note, setNote] = useState('');
  const [missing, setMissing] = useState(false);
  const { busy, error, run } = useDialogSubmit(onClose);
  const { fieldErrors, markEdited } = useFieldErrors(error);
  const formError = formErrorOf(error);

  function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    const parsed = acuitySchema.safeParse(Number(acuity));
    if (acuity === '' || !parsed.success) {
      setMissing(true);
      return;
    }
    void run(() => onSubmit(entry, parsed.data, note));
  }

  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="sm">
        {formError ? (
          <Alert color="red" variant="light">
            {formError}
          </Alert>
        ) : null}
        <NativeSelect
          label="Acuity (ESI)"
          data={[
            { value: '', label: 'Choose a level', disabled: true },
            ...acuityLevels.map((level) => ({ value: String(level), label: `ESI ${level} – ${acuityNames[level]}` })),
          ]}
          value={acuity}
          onChange={(event) => {
            setMissing(false);
            markEdited('acuity');
            setAcuity(event.currentTarget.value);
          }}
          error={missing ? 'Choose an acuity level' : fieldErrors.acuity}
          withAsterisk
          data-autofocus
        />
        <Textarea
          label="Triage note"
          description="Optional"
          autosize
          minRows={3}
          maxRows={8}
          value={note}
          onChange={(event) => {
            markEdited('note');
            setNote(event.currentTarget.value);
          }}
          error={fieldErrors.note}
        />
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
