import type { Visit } from '@phos/shared';
import { Box, Group, Loader, Stack, Text, ThemeIcon, VisuallyHidden } from '@mantine/core';
import type { ReactNode } from 'react';

type StepKey = 'received' | 'ready' | 'waiting' | 'with_clinician' | 'done' | 'left';

const stepLabels: Record<StepKey, string> = {
  received: 'Registration received',
  ready: 'Record ready',
  waiting: 'Waiting',
  with_clinician: 'With clinician',
  done: 'Done',
  left: 'Left',
};

/** Triage is part of waiting, as a patient sees it; leaving ends the visit after waiting. */
function stepsFor(stage: Visit['stage']): { steps: StepKey[]; current: number } {
  const steps: StepKey[] =
    stage === 'left' ? ['received', 'ready', 'waiting', 'left'] : ['received', 'ready', 'waiting', 'with_clinician', 'done'];
  const key: StepKey = stage === 'in_triage' ? 'waiting' : stage;
  return { steps, current: steps.indexOf(key) };
}

/** The patient's place in their visit: a headline announced politely, and the steps so far. */
export function VisitStatus({ visit }: { visit: Visit }) {
  const { steps, current } = stepsFor(visit.stage);
  const finished = visit.stage === 'done' || visit.stage === 'left';
  return (
    <Stack gap="lg">
      <Box
        role="status"
        aria-live="polite"
        aria-label="Your visit status"
        bg="blue.0"
        p="md"
        style={{ borderRadius: 'var(--mantine-radius-md)' }}
      >
        <Headline visit={visit} />
      </Box>
      <Box component="ol" aria-label="Your visit, step by step" m={0} p={0} style={{ listStyle: 'none' }}>
        {steps.map((step, index) => {
          const state = index < current || (index === current && finished) ? 'complete' : index === current ? 'current' : 'upcoming';
          return (
            <Step key={step} number={index + 1} state={state} last={index === steps.length - 1} label={stepLabels[step]}>
              {stepNote(step, visit)}
            </Step>
          );
        })}
      </Box>
    </Stack>
  );
}

/** Kept under the first two steps once reached, so what the patient was told stays on the page. */
function stepNote(step: StepKey, visit: Visit): ReactNode {
  if (step === 'received') return 'Your registration was received';
  if (step === 'ready' && visit.stage !== 'received') return 'Your record is ready';
  if (step === 'waiting' && visit.stage === 'in_triage') return 'In triage';
  return null;
}

function Headline({ visit }: { visit: Visit }) {
  switch (visit.stage) {
    case 'received':
      return (
        <Group gap="sm" wrap="nowrap">
          <Loader size="sm" aria-hidden />
          {visit.delayed ? (
            <Text>
              Your registration is taking longer than usual; it is not lost. The front desk can help. This page updates by itself.
            </Text>
          ) : (
            <Text c="dimmed">We are creating your patient record. This page updates by itself.</Text>
          )}
        </Group>
      );
    case 'ready':
      return <Text fw={500}>The clinic will add you to the queue shortly. This page updates by itself.</Text>;
    case 'waiting':
    case 'in_triage':
      return (
        <Stack gap={4}>
          {visit.stage === 'in_triage' ? (
            <Text size="xl" fw={700}>
              A nurse is assessing you
            </Text>
          ) : null}
          <Place visit={visit} prominent={visit.stage === 'waiting'} />
        </Stack>
      );
    case 'with_clinician':
      return (
        <Text size="xl" fw={700}>
          With {visit.clinicianName ?? 'a clinician'}
          {visit.roomName ? ` in ${visit.roomName}` : ''}
        </Text>
      );
    case 'done':
      return (
        <Text size="xl" fw={700}>
          Your visit is complete
        </Text>
      );
    case 'left':
      return (
        <Stack gap={4}>
          <Text size="xl" fw={700}>
            You left the queue
          </Text>
          <Text c="dimmed">If you still need care, please speak to the front desk.</Text>
        </Stack>
      );
  }
}

function Place({ visit, prominent }: { visit: Visit; prominent: boolean }) {
  const size = prominent ? 'xl' : 'md';
  const weight = prominent ? 700 : 500;
  if (visit.position === null) {
    return (
      <Text size={size} fw={weight}>
        You are in the queue
      </Text>
    );
  }
  if (visit.position === 1) {
    return (
      <Text size={size} fw={weight}>
        You&apos;re next
      </Text>
    );
  }
  return (
    <>
      <Text size={size} fw={weight}>
        You are number {visit.position} in line
      </Text>
      {visit.estimatedWaitMinutes !== null ? <Text c="dimmed">Estimated wait: about {visit.estimatedWaitMinutes} min</Text> : null}
    </>
  );
}

type StepState = 'complete' | 'current' | 'upcoming';

const stepStateWords: Record<StepState, string> = {
  complete: ' (completed)',
  current: ' (current step)',
  upcoming: ' (not reached yet)',
};

interface StepProps {
  number: number;
  state: StepState;
  last: boolean;
  label: string;
  children: ReactNode;
}

function Step({ number, state, last, label, children }: StepProps) {
  return (
    <Box component="li" aria-current={state === 'current' ? 'step' : undefined} pos="relative" pb={last ? 0 : 'md'}>
      {last ? null : (
        <span
          aria-hidden
          style={{
            position: 'absolute',
            left: 15,
            top: 34,
            bottom: 2,
            width: 2,
            background: state === 'complete' ? 'var(--mantine-color-teal-6)' : 'var(--mantine-color-gray-3)',
          }}
        />
      )}
      <Group gap="sm" wrap="nowrap" align="flex-start">
        <ThemeIcon
          radius="xl"
          size={32}
          aria-hidden
          color={state === 'upcoming' ? 'gray' : state === 'current' ? 'blue' : 'teal'}
          variant={state === 'upcoming' ? 'light' : 'filled'}
        >
          {state === 'complete' ? '✓' : number}
        </ThemeIcon>
        <Stack gap={0} pt={4}>
          <Text fw={state === 'current' ? 700 : 500} c={state === 'upcoming' ? 'dimmed' : undefined}>
            {label}
            <VisuallyHidden>{stepStateWords[state]}</VisuallyHidden>
          </Text>
          {children ? (
            <Text size="sm" c="dimmed">
              {children}
            </Text>
          ) : null}
        </Stack>
      </Group>
    </Box>
  );
}
