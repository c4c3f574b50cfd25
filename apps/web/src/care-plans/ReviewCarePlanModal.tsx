import type { CarePlan } from '@phos/shared';
import { carePlanStatusLabels, rejectCarePlanInput } from '@phos/shared';
import { Alert, Button, Group, Modal, Stack, Text, Textarea, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import { useMe } from '../auth';
import { errorMessage } from '../errors';
import { showServerErrors, useSchemaForm } from '../forms';
import { useTRPC } from '../trpc';
import { CarePlanBody, CarePlanSignatures, CarePlanStatusBadge } from './CarePlanContent';

interface ReviewCarePlanModalProps {
  /** The plan as the page currently knows it: it may change while the dialog is open. */
  plan: CarePlan | null;
  onClose: () => void;
}

export function ReviewCarePlanModal({ plan, onClose }: ReviewCarePlanModalProps) {
  return (
    <Modal opened={plan !== null} onClose={onClose} title="Review care plan" size="lg">
      {plan ? <Review key={plan.id} plan={plan} onDone={onClose} /> : null}
    </Modal>
  );
}

function Review({ plan, onDone }: { plan: CarePlan; onDone: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const me = useMe().data;
  // Signing a plan is a clinical judgement: Providers only, and never the one who drafted it.
  const isProvider = me?.role === 'Provider';
  const ownDraft = me?.id === plan.draftedBy.id;
  const [rejecting, setRejecting] = useState(false);
  const form = useSchemaForm({
    schema: rejectCarePlanInput,
    initialValues: { reason: '' },
    toInput: (values) => ({ ...values, planId: plan.id }),
  });
  const refetchPlans = () => queryClient.invalidateQueries({ queryKey: trpc.carePlans.forPatient.queryKey({ id: plan.patientId }) });

  const approve = useMutation(
    trpc.carePlans.approve.mutationOptions({
      onSuccess: () => {
        onDone();
        void refetchPlans();
      },
    }),
  );
  const reject = useMutation(
    trpc.carePlans.reject.mutationOptions({
      onSuccess: () => {
        onDone();
        void refetchPlans();
      },
      onError: (error) => showServerErrors(form, error),
    }),
  );
  const error = errorMessage(approve.error) ?? errorMessage(reject.error);
  const busy = approve.isPending || reject.isPending;
  // Someone else may have decided while this dialog was open; the page refetched the plan.
  const stillDraft = plan.status === 'draft';

  return (
    <Stack gap="md">
      <Group justify="space-between" align="flex-start" wrap="nowrap">
        <Title order={3} size="h4" style={{ overflowWrap: 'anywhere' }}>
          {plan.title}
        </Title>
        <Group gap="xs" wrap="nowrap">
          <Text size="sm" c="dimmed">
            Version {plan.version}
          </Text>
          <CarePlanStatusBadge status={plan.status} />
        </Group>
      </Group>
      <CarePlanBody plan={plan} />
      <CarePlanSignatures plan={plan} />
      {plan.replacesPlanId ? (
        <Text size="sm" c="dimmed">
          Approving replaces version {plan.version - 1}, which stays active until then.
        </Text>
      ) : null}

      {error ? (
        <Alert color="red" variant="light" title="Could not record the decision">
          {error}
        </Alert>
      ) : null}

      {!stillDraft ? (
        <NoticeToClose title="Already decided" onClose={onDone}>
          This plan is no longer awaiting approval: it is now {carePlanStatusLabels[plan.status].toLowerCase()}.
        </NoticeToClose>
      ) : rejecting ? (
        <form onSubmit={form.onSubmit((values) => reject.mutate({ ...values, planId: plan.id }))} noValidate>
          <Stack gap="sm">
            <Textarea
              label="Reason for rejection"
              description="The clinician who drafted the plan sees this."
              {...form.getInputProps('reason')}
              autosize
              minRows={3}
              maxLength={2000}
              required
              // Revealed by the Reject button: the reason is what comes next.
              autoFocus
            />
            <Group justify="flex-end" gap="sm">
              <Button variant="default" onClick={() => setRejecting(false)} disabled={busy}>
                Back
              </Button>
              <Button type="submit" color="red" loading={reject.isPending}>
                Confirm rejection
              </Button>
            </Group>
          </Stack>
        </form>
      ) : !isProvider ? (
        <NoticeToClose title="Awaiting a Provider" onClose={onDone}>
          Only a Provider can approve or reject a care plan.
        </NoticeToClose>
      ) : (
        <Stack gap="sm">
          {ownDraft ? (
            <Alert color="blue" variant="light" title="Your draft">
              Another clinician must approve your draft. You can still withdraw it by rejecting it.
            </Alert>
          ) : null}
          <Group justify="flex-end" gap="sm">
            <Button variant="default" color="red" onClick={() => setRejecting(true)} disabled={busy}>
              Reject
            </Button>
            {ownDraft ? null : (
              <Button color="teal" onClick={() => approve.mutate({ planId: plan.id })} loading={approve.isPending} disabled={busy}>
                Approve
              </Button>
            )}
          </Group>
        </Stack>
      )}
    </Stack>
  );
}

/** Why there is nothing to decide here, and the way out. */
function NoticeToClose({ title, onClose, children }: { title: string; onClose: () => void; children: ReactNode }) {
  return (
    <Stack gap="sm">
      <Alert color="blue" variant="light" title={title}>
        {children}
      </Alert>
      <Group justify="flex-end">
        <Button variant="default" onClick={onClose}>
          Close
        </Button>
      </Group>
    </Stack>
  );
}
