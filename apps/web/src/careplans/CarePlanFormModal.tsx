import type { CarePlan } from '@phos/shared';
import { Alert, Button, Group, Modal, Stack, Text, Textarea, TextInput } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type SubmitEvent } from 'react';
import { useTRPC } from '../trpc';
import { fieldBinder, useFieldErrors } from '../useFieldErrors';
import { actionErrorOf } from './actionError';

interface CarePlanFormModalProps {
  patientId: string;
  /** The active plan this draft revises; without one, a first draft. */
  revising: CarePlan | null;
  opened: boolean;
  onClose: () => void;
}

/** Drafts a care plan, or the next version of an active one; the draft then awaits approval. */
export function CarePlanFormModal({ patientId, revising, opened, onClose }: CarePlanFormModalProps) {
  return (
    <Modal opened={opened} onClose={onClose} title={revising ? 'Revise care plan' : 'Draft care plan'} size="lg">
      {/* Mounted only while open, so each opening starts from a clean (or prefilled) form. */}
      {opened ? <CarePlanForm patientId={patientId} revising={revising} onDone={onClose} /> : null}
    </Modal>
  );
}

function CarePlanForm({ patientId, revising, onDone }: { patientId: string; revising: CarePlan | null; onDone: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [form, setForm] = useState({
    title: revising?.title ?? '',
    goals: revising?.goals ?? '',
    instructions: revising?.instructions ?? '',
  });

  const draft = useMutation(
    trpc.carePlans.draft.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.carePlans.forPatient.queryKey({ id: patientId }) });
        onDone();
      },
    }),
  );
  const field = fieldBinder(form, setForm, useFieldErrors(draft.error));
  const formError = actionErrorOf(draft.error);


  function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    draft.mutate({ patientId, ...form, ...(revising ? { replacesPlanId: revising.id } : {}) });
  }

  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="sm">
        {revising ? (
          <Text size="sm" c="dimmed">
            Saves version {revising.version + 1}. Version {revising.version} stays active until the new version is approved.
          </Text>
        ) : (
          <Text size="sm" c="dimmed">
            The draft takes effect once it is approved.
          </Text>
        )}
        {formError ? (
          <Alert color="red" variant="light" title="Could not save the draft">
            {formError}
          </Alert>
        ) : null}
        <TextInput
          label="Title"
          {...field('title')}
          maxLength={200}
          withAsterisk
          data-autofocus
        />
        <Textarea
          label="Goals"
          {...field('goals')}
          autosize
          minRows={3}
          maxRows={10}
          maxLength={5000}
          withAsterisk
        />
        <Textarea
          label="Instructions"
          {...field('instructions')}
          autosize
          minRows={4}
          maxRows={14}
          maxLength={10_000}
          withAsterisk
        />
        <Group justify="flex-end" gap="sm" mt="xs">
          <Button variant="default" onClick={onDone}>
            Cancel
          </Button>
          <Button type="submit" loading={draft.isPending}>
            Save draft
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
