import { draftCarePlanInput, type CarePlan } from '@phos/shared';
import { Button, Group, Modal, Stack, Text, Textarea, TextInput } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { errorMessage } from '../errors';
import { showServerErrors, useSchemaForm } from '../forms';
import { useTRPC } from '../trpc';
import { FormError } from '../components/FormError';

interface PlanFields {
  title: string;
  goals: string;
  instructions: string;
}

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
  const toDraft = (values: PlanFields) => ({ patientId, ...values, ...(revising ? { replacesPlanId: revising.id } : {}) });
  const form = useSchemaForm({
    schema: draftCarePlanInput,
    initialValues: { title: revising?.title ?? '', goals: revising?.goals ?? '', instructions: revising?.instructions ?? '' },
    toInput: toDraft,
  });

  const draft = useMutation(
    trpc.carePlans.draft.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.carePlans.forPatient.queryKey({ id: patientId }) });
        onDone();
      },
      onError: (error) => showServerErrors(form, error),
    }),
  );
  const formError = errorMessage(draft.error);

  return (
    <form onSubmit={form.onSubmit((values) => draft.mutate(toDraft(values)))} noValidate>
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
        <FormError message={formError} title="Could not save the draft" />
        <TextInput label="Title" {...form.getInputProps('title')} maxLength={200} withAsterisk data-autofocus />
        <Textarea label="Goals" {...form.getInputProps('goals')} autosize minRows={3} maxRows={10} maxLength={5000} withAsterisk />
        <Textarea
          label="Instructions"
          {...form.getInputProps('instructions')}
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
