import type { Journey, TransitionRecord } from '@phos/shared';
import { queueStatusLabels } from '@phos/shared';
import { Alert, Badge, Box, Group, Paper, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { FullPageLoader } from '../components/FullPageLoader';
import { formatDateTime, formatDuration } from '../format';
import { errorMessage } from '../errors';
import { useTRPC } from '../trpc';
import { useNow } from '../useNow';
import { statusTimes } from './statusTimes';

type JourneyVisit = Journey['visits'][number];

function When({ at }: { at: string }) {
  return <time dateTime={at}>{formatDateTime(at)}</time>;
}

/** The queue journey and the triage history of one patient, from the same journey query. */
export function QueueJourney({ patientId }: { patientId: string }) {
  const trpc = useTRPC();
  const journey = useQuery(trpc.patients.journey.queryOptions({ id: patientId }));

  let visits: ReactNode;
  let triage: ReactNode;
  if (journey.isPending) {
    visits = <FullPageLoader />;
    triage = <FullPageLoader />;
  } else if (journey.isError) {
    const failed = (
      <Alert color="red" variant="light" title="Could not load the queue journey">
        {errorMessage(journey.error)}
      </Alert>
    );
    visits = failed;
    triage = null;
  } else {
    visits =
      journey.data.visits.length === 0 ? (
        <Text c="dimmed">No visits yet.</Text>
      ) : (
        <Stack gap="lg">
          {journey.data.visits.map((visit) => (
            <VisitJourney key={visit.entry.id} visit={visit} />
          ))}
        </Stack>
      );
    triage = <TriageHistory visits={journey.data.visits} />;
  }

  return (
    <>
      <Paper component="section" withBorder p="lg" radius="md" aria-labelledby="journey-heading">
        <Stack gap="md">
          <Title order={2} size="h3" id="journey-heading">
            Queue journey
          </Title>
          {visits}
        </Stack>
      </Paper>
      {triage === null ? null : (
        <Paper component="section" withBorder p="lg" radius="md" aria-labelledby="triage-heading">
          <Stack gap="md">
            <Title order={2} size="h3" id="triage-heading">
              Triage history
            </Title>
            {triage}
          </Stack>
        </Paper>
      )}
    </>
  );
}

function VisitJourney({ visit }: { visit: JourneyVisit }) {
  const { entry } = visit;
  const headingId = `visit-${entry.id}`;
  return (
    <Box component="article" aria-labelledby={headingId}>
      <Stack gap="sm">
        <Group gap="sm" justify="space-between">
          <Title order={3} size="h5" id={headingId}>
            Visit from <When at={entry.arrivedAt} />
          </Title>
          <Badge variant="light">{queueStatusLabels[entry.status]}</Badge>
        </Group>
        <SimpleGrid cols={{ base: 1, sm: 2 }} spacing="lg" verticalSpacing="md">
          <Timeline visit={visit} />
          <TimeInStatus visit={visit} />
        </SimpleGrid>
      </Stack>
    </Box>
  );
}

function TransitionLabel({ record }: { record: TransitionRecord }) {
  const move = `${queueStatusLabels[record.from]} → ${queueStatusLabels[record.to]}`;
  if (record.kind === 'undo') return <>Undo: {move}</>;
  if (record.undoneAt) {
    return (
      <>
        <s>{move}</s> (undone)
      </>
    );
  }
  return <>{move}</>;
}

/** Every move in order, mistakes included: an undone move stays, marked, beside its undo. */
function Timeline({ visit }: { visit: JourneyVisit }) {
  const { entry, transitions } = visit;
  return (
    <div>
      <Text size="sm" fw={600} mb={6} id={`timeline-${entry.id}`}>
        Timeline
      </Text>
      <Box
        component="ol"
        aria-labelledby={`timeline-${entry.id}`}
        m={0}
        p={0}
        style={{ listStyle: 'none', borderLeft: '2px solid var(--mantine-color-gray-3)' }}
      >
        <TimelineItem>
          <Text size="sm" fw={500}>
            Joined the queue
          </Text>
          <Text size="xs" c="dimmed">
            <When at={entry.arrivedAt} />
          </Text>
        </TimelineItem>
        {transitions.map((record) => (
          <TimelineItem key={record.id} muted={record.undoneAt !== null} undo={record.kind === 'undo'}>
            <Text size="sm" fw={500} c={record.kind === 'undo' ? 'orange.9' : record.undoneAt ? 'dimmed' : undefined}>
              <TransitionLabel record={record} />
            </Text>
            {record.undoneAt ? (
              <Text size="xs" c="dimmed">
                Undone at <When at={record.undoneAt} />
              </Text>
            ) : null}
            <Text size="xs" c="dimmed">
              By {record.by.name} at <When at={record.at} />
            </Text>
            {record.clinician || record.room ? (
              <Text size="xs" c="dimmed">
                {[record.clinician ? `Clinician: ${record.clinician.name}` : null, record.room ? `Room: ${record.room.name}` : null]
                  .filter(Boolean)
                  .join(' · ')}
              </Text>
            ) : null}
          </TimelineItem>
        ))}
      </Box>
    </div>
  );
}

function TimelineItem({ children, muted = false, undo = false }: { children: ReactNode; muted?: boolean; undo?: boolean }) {
  const dot = undo ? 'var(--mantine-color-orange-6)' : muted ? 'var(--mantine-color-gray-5)' : 'var(--mantine-color-blue-6)';
  return (
    <Box component="li" pl="md" pb="sm" pos="relative">
      <span
        aria-hidden
        style={{
          position: 'absolute',
          left: -6,
          top: 5,
          width: 10,
          height: 10,
          borderRadius: '50%',
          background: dot,
          border: '2px solid var(--mantine-color-white)',
        }}
      />
      {children}
    </Box>
  );
}

/** Time per status from consecutive moves; the current status's time runs on a local clock. */
function TimeInStatus({ visit }: { visit: JourneyVisit }) {
  const now = useNow(15_000);
  const times = statusTimes(visit.entry, visit.transitions, now);
  return (
    <div>
      <Text size="sm" fw={600} mb={6} id={`times-${visit.entry.id}`}>
        Time in each status
      </Text>
      <Box component="dl" m={0} aria-labelledby={`times-${visit.entry.id}`}>
        {times.map((time) => (
          <Group key={time.status} gap="xs" justify="space-between" wrap="nowrap" py={4}>
            <Text component="dt" size="sm">
              {queueStatusLabels[time.status]}
            </Text>
            <Text component="dd" m={0} size="sm" fw={500}>
              {formatDuration(time.milliseconds)}
              {time.ongoing ? ' so far' : ''}
            </Text>
          </Group>
        ))}
      </Box>
    </div>
  );
}

function TriageHistory({ visits }: { visits: Journey['visits'] }) {
  const assessments = visits.flatMap((visit) => visit.triage).sort((a, b) => new Date(b.at).getTime() - new Date(a.at).getTime());
  if (assessments.length === 0) return <Text c="dimmed">No triage assessments yet.</Text>;
  return (
    <Stack component="ol" gap="sm" m={0} p={0} style={{ listStyle: 'none' }} aria-label="Triage assessments, newest first">
      {assessments.map((assessment) => (
        <Paper component="li" key={assessment.id} withBorder radius="sm" p="sm">
          <Group gap="sm" align="baseline" wrap="nowrap">
            <Badge
              variant="light"
              color={assessment.acuity <= 2 ? 'red' : assessment.acuity === 3 ? 'orange' : 'blue'}
              style={{ flexShrink: 0 }}
            >
              ESI {assessment.acuity}
            </Badge>
            <Stack gap={2} style={{ minWidth: 0 }}>
              {assessment.note ? (
                <Text size="sm" style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}>
                  {assessment.note}
                </Text>
              ) : (
                <Text size="sm" c="dimmed">
                  No note
                </Text>
              )}
              <Text size="xs" c="dimmed">
                By {assessment.by.name} at <When at={assessment.at} />
              </Text>
            </Stack>
          </Group>
        </Paper>
      ))}
    </Stack>
  );
}
