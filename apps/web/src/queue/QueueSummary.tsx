import { queueStatuses, queueStatusLabels } from '@phos/shared';
import { Paper, SimpleGrid, Text } from '@mantine/core';
import { formatWait } from '../format';
import type { QueueSummaryFigures } from './model';

function averageWaitText(minutes: number | null): string {
  if (minutes === null) return 'Nobody waiting';
  return minutes < 1 ? 'Under 1 min' : formatWait(minutes);
}

export function QueueSummary({ figures }: { figures: QueueSummaryFigures }) {
  const items = [
    ...queueStatuses.map((status) => ({ label: queueStatusLabels[status], value: figures.counts[status].toLocaleString() })),
    { label: 'Past target', value: figures.pastTarget.toLocaleString(), alert: figures.pastTarget > 0 },
    { label: 'Average wait', value: averageWaitText(figures.averageWaitMinutes) },
  ];
  return (
    <Paper component="section" aria-label="Queue summary" withBorder radius="md" p="sm">
      <SimpleGrid component="dl" cols={{ base: 4, md: 7 }} spacing="sm" verticalSpacing="xs" m={0}>
        {items.map((item) => (
          <div key={item.label}>
            <Text component="dt" size="xs" c="dimmed" lh={1.3}>
              {item.label}
            </Text>
            <Text component="dd" m={0} fw={700} size="lg" c={'alert' in item && item.alert ? 'red.8' : undefined}>
              {item.value}
            </Text>
          </div>
        ))}
      </SimpleGrid>
    </Paper>
  );
}
