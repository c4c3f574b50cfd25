import { Paper, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { errorMessage } from '../errors';
import { useTRPC } from '../trpc';

/** The event log as this api instance reads it: its head, and what this build could not read. */
export function EventLogSection() {
  const trpc = useTRPC();
  const status = useQuery(trpc.ops.eventLog.queryOptions(undefined, { staleTime: 0 }));
  const data = status.data;
  return (
    <Paper withBorder p="lg" radius="md" component="section" aria-labelledby="event-log-title">
      <Stack gap="xs">
        <Title order={2} size="h4" id="event-log-title">
          Event log
        </Title>
        {status.isError ? (
          <Text size="sm" c="red">
            {errorMessage(status.error)}
          </Text>
        ) : !data ? (
          <Text size="sm" c="dimmed">
            Loading…
          </Text>
        ) : (
          <>
            <Text size="sm">
              Head {data.head};{' '}
              {data.skipped === 0
                ? 'every event so far could be read.'
                : `${data.skipped} event${data.skipped === 1 ? '' : 's'} this build could not read (ids ${data.lastSkipped.map((event) => event.id).join(', ')}${data.skipped > data.lastSkipped.length ? ', …' : ''}).`}
            </Text>
            {data.lastSkipped.length > 0 ? (
              <Text size="xs" c="dimmed" component="ul" m={0}>
                {data.lastSkipped.map((event) => (
                  <li key={event.id}>
                    {event.id}: {event.type} v{event.version}, {event.reason}
                  </li>
                ))}
              </Text>
            ) : null}
            <Text size="xs" c="dimmed">
              Dashboards and notifications pass over an unreadable event, usually one written by a newer version of Phos during a deploy.
            </Text>
          </>
        )}
      </Stack>
    </Paper>
  );
}
