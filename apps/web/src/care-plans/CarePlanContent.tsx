import type { CarePlan, CarePlanStatus } from '@phos/shared';
import { carePlanStatusLabels } from '@phos/shared';
import { Badge, Stack, Text } from '@mantine/core';
import { formatDateTime } from '../format';

export const carePlanStatusColors: Record<CarePlanStatus, string> = {
  draft: 'yellow',
  active: 'teal',
  rejected: 'red',
  superseded: 'gray',
};

export function CarePlanStatusBadge({ status }: { status: CarePlanStatus }) {
  return (
    <Badge variant="light" color={carePlanStatusColors[status]}>
      {carePlanStatusLabels[status]}
    </Badge>
  );
}

function When({ at }: { at: string }) {
  return <time dateTime={at}>{formatDateTime(at)}</time>;
}

/** Goals and instructions as written: clinicians' line breaks carry meaning. */
export function CarePlanBody({ plan }: { plan: Pick<CarePlan, 'goals' | 'instructions'> }) {
  return (
    <Stack gap="xs">
      <div>
        <Text size="sm" fw={600}>
          Goals
        </Text>
        <Text size="sm" style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}>
          {plan.goals}
        </Text>
      </div>
      <div>
        <Text size="sm" fw={600}>
          Instructions
        </Text>
        <Text size="sm" style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}>
          {plan.instructions}
        </Text>
      </div>
    </Stack>
  );
}

/** Who drafted the plan and who signed, rejected or replaced it. */
export function CarePlanSignatures({ plan }: { plan: CarePlan }) {
  return (
    <Stack gap={2}>
      <Text size="sm" c="dimmed">
        Drafted by {plan.draftedBy.name} at <When at={plan.draftedAt} />
      </Text>
      {plan.approvedBy && plan.approvedAt ? (
        <Text size="sm">
          Signed by {plan.approvedBy.name} at <When at={plan.approvedAt} />
        </Text>
      ) : null}
      {plan.rejectedBy && plan.rejectedAt ? (
        <Text size="sm">
          Rejected by {plan.rejectedBy.name} at <When at={plan.rejectedAt} />
        </Text>
      ) : null}
      {plan.rejectionReason ? (
        <Text size="sm" style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}>
          Reason: {plan.rejectionReason}
        </Text>
      ) : null}
      {plan.supersededAt ? (
        <Text size="sm" c="dimmed">
          Replaced by a newer version at <When at={plan.supersededAt} />
        </Text>
      ) : null}
    </Stack>
  );
}
