import type { CarePlan } from '@phos/shared';
import { Alert, Button, Group, Paper, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { FullPageLoader } from '../components/FullPageLoader';
import { errorMessage } from '../errors';
import { useTRPC } from '../trpc';
import { CarePlanBody, CarePlanSignatures, CarePlanStatusBadge } from './CarePlanContent';
import { CarePlanFormModal } from './CarePlanFormModal';
import { ReviewCarePlanModal } from './ReviewCarePlanModal';

type FormState = { open: false } | { open: true; revising: CarePlan | null };

/** Every plan of the patient, newest first, with drafting, review and revision. Staff only. */
export function CarePlansSection({ patientId }: { patientId: string }) {
  const trpc = useTRPC();
  const plans = useQuery(trpc.carePlans.forPatient.queryOptions({ id: patientId }));
  const [form, setForm] = useState<FormState>({ open: false });
  const [reviewingId, setReviewingId] = useState<string | null>(null);
  // Looked up on every render, so a decision made elsewhere shows in the open dialog.
  const reviewing = plans.data?.plans.find((plan) => plan.id === reviewingId) ?? null;

  return (
    <Paper component="section" withBorder p="lg" radius="md" aria-labelledby="care-plans-heading">
      <Stack gap="md">
        <Group justify="space-between" align="center">
          <Title order={2} size="h3" id="care-plans-heading">
            Care plans
          </Title>
          <Button onClick={() => setForm({ open: true, revising: null })}>Draft care plan</Button>
        </Group>
        {plans.isPending ? (
          <FullPageLoader />
        ) : plans.isError ? (
          <Alert color="red" variant="light" title="Could not load the care plans">
            {errorMessage(plans.error)}
          </Alert>
        ) : plans.data.plans.length === 0 ? (
          <Text c="dimmed">No care plans yet.</Text>
        ) : (
          <Stack component="ul" gap="md" m={0} p={0} style={{ listStyle: 'none' }} aria-label="Care plans, newest first">
            {plans.data.plans.map((plan) => (
              <li key={plan.id}>
                <CarePlanCard
                  plan={plan}
                  onReview={() => setReviewingId(plan.id)}
                  onRevise={() => setForm({ open: true, revising: plan })}
                />
              </li>
            ))}
          </Stack>
        )}
      </Stack>
      <CarePlanFormModal
        patientId={patientId}
        revising={form.open ? form.revising : null}
        opened={form.open}
        onClose={() => setForm({ open: false })}
      />
      <ReviewCarePlanModal plan={reviewing} onClose={() => setReviewingId(null)} />
    </Paper>
  );
}

interface CarePlanCardProps {
  plan: CarePlan;
  onReview: () => void;
  onRevise: () => void;
}

function CarePlanCard({ plan, onReview, onRevise }: CarePlanCardProps) {
  const headingId = `care-plan-${plan.id}`;
  return (
    <Paper
      component="article"
      withBorder
      radius="md"
      p="md"
      aria-labelledby={headingId}
      bg={plan.status === 'superseded' || plan.status === 'rejected' ? 'gray.0' : undefined}
    >
      <Stack gap="sm">
        <Group justify="space-between" align="flex-start" gap="sm">
          <Stack gap={4} style={{ flex: 1, minWidth: 0 }}>
            <Title order={3} size="h4" id={headingId} style={{ overflowWrap: 'anywhere' }}>
              {plan.title}
            </Title>
            <Group gap="xs">
              <CarePlanStatusBadge status={plan.status} />
              <Text size="sm" c="dimmed">
                Version {plan.version}
              </Text>
            </Group>
          </Stack>
          {plan.status === 'draft' ? (
            <Button variant="light" onClick={onReview} aria-label={`Review ${plan.title}`}>
              Review
            </Button>
          ) : plan.status === 'active' ? (
            <Button variant="default" onClick={onRevise} aria-label={`Revise ${plan.title}`}>
              Revise
            </Button>
          ) : null}
        </Group>
        <CarePlanBody plan={plan} />
        <CarePlanSignatures plan={plan} />
      </Stack>
    </Paper>
  );
}
