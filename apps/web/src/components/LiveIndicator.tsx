import { Group, Text } from '@mantine/core';

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'offline';

const labels: Record<LiveState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

const colors: Record<LiveState, string> = {
  connecting: 'var(--mantine-color-gray-6)',
  live: 'var(--mantine-color-teal-7)',
  reconnecting: 'var(--mantine-color-yellow-7)',
  offline: 'var(--mantine-color-red-7)',
};

/** Connection state in words, announced politely; the dot is decoration only. */
export function LiveIndicator({ state }: { state: LiveState }) {
  return (
    <Group gap={6} role="status" aria-live="polite" aria-label="Live updates" wrap="nowrap">
      <span className="live-dot" data-state={state} style={{ background: colors[state] }} aria-hidden />
      <Text size="sm" fw={500} c={state === 'live' ? 'teal.8' : 'dimmed'}>
        {labels[state]}
      </Text>
    </Group>
  );
}
