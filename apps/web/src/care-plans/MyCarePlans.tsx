import { Alert, Paper, Stack, Text, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { formatDateTime } from '../format';
import { errorMessage } from '../errors';
import { useTRPC } from '../trpc';
import { CarePlanBody } from './CarePlanContent';

/** The signed-in Patient's active care plans, refetched whenever one becomes active. */
export function MyCarePlans() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const plans = useQuery(trpc.carePlans.mine.queryOptions());
  const refetch = () => queryClient.invalidateQueries({ queryKey: trpc.carePlans.mine.queryKey() });
  useSubscription(
    trpc.carePlans.onMine.subscriptionOptions(undefined, {
      // The signal does not resume after a reconnect, so every (re)connect reads the list again.
      onStarted: () => void refetch(),
      onData: () => void refetch(),
    }),
  );

  let body;
  if (plans.isPending) {
    body = <Text c="dimmed">Loading your care plans…</Text>;
  } else if (plans.isError) {
    body = (
      <Alert color="red" variant="light" title="Could not load your care plans">
        {errorMessage(plans.error)}
      </Alert>
    );
  } else if (!plans.data.identityVerified) {
    body = (
      <Alert color="blue" variant="light" title="Waiting for an ID check" role="status">
        Your clinical information (care plans and notes) appears here after the front desk has checked your ID. Bring a photo ID to your
        visit.
      </Alert>
    );
  } else if (plans.data.plans.length === 0) {
    body = <Text c="dimmed">You have no care plans yet. When your clinician signs one, it appears here.</Text>;
  } else {
    body = (
      <Stack component="ul" gap="md" m={0} p={0} style={{ listStyle: 'none' }}>
        {plans.data.plans.map((plan) => (
          <Paper component="li" key={plan.id} withBorder radius="md" p="md">
            <Stack gap="sm">
              <Title order={3} size="h4" style={{ overflowWrap: 'anywhere' }}>
                {plan.title}
              </Title>
              <CarePlanBody plan={plan} />
              {plan.approvedBy && plan.approvedAt ? (
                <Text size="sm" c="dimmed">
                  Approved by {plan.approvedBy.name} on <time dateTime={plan.approvedAt}>{formatDateTime(plan.approvedAt)}</time>
                </Text>
              ) : null}
            </Stack>
          </Paper>
        ))}
      </Stack>
    );
  }

  return (
    <section aria-labelledby="my-care-plans-heading">
      <Stack gap="sm">
        <Title order={2} size="h3" id="my-care-plans-heading">
          Your care plans
        </Title>
        {body}
      </Stack>
    </section>
  );
}
