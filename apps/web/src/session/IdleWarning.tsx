import { Button, Group, Modal, Stack, Text, VisuallyHidden } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, useSyncExternalStore } from 'react';
import { useLeaveSession } from '../auth';
import { useTRPC } from '../trpc';
import { useSessionSignals } from './SessionGuard';

/** How long before the idle sign-out the warning shows. */
const WARNING_MS = 60_000;
/** Screen readers hear the countdown in steps this long, not every second. */
const ANNOUNCE_STEP_SECONDS = 15;

function idleNotice(idleTimeoutMs: number): string {
  return `You were signed out after ${Math.round(idleTimeoutMs / 60_000)} minutes without activity.`;
}

/** Warns a minute before the idle sign-out, with a countdown, and signs out when it comes. */
export function IdleWarning() {
  const trpc = useTRPC();
  const signals = useSessionSignals();
  const session = useQuery(trpc.auth.session.queryOptions(undefined, { staleTime: Number.POSITIVE_INFINITY }));
  const lastActivity = useSyncExternalStore(signals.subscribeActivity, signals.getLastActivity);
  const idleTimeoutMs = session.data?.idleTimeoutMs;
  if (!idleTimeoutMs) return null;
  // Measured on this browser's clock from its own last call, so a skewed clock cannot cut it
  // short. The server writes a renewal only once it moves the end by a step (at most 30 s), so
  // the app ends that much early rather than after the server already has.
  const deadline = lastActivity + idleTimeoutMs - Math.min(30_000, idleTimeoutMs / 20);
  return <IdleCountdown deadline={deadline} idleTimeoutMs={idleTimeoutMs} />;
}

function IdleCountdown({ deadline, idleTimeoutMs }: { deadline: number; idleTimeoutMs: number }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const leave = useLeaveSession();
  const [clock, setClock] = useState(() => ({ now: Date.now() }));
  const warnAt = deadline - WARNING_MS;
  const pastDeadline = clock.now >= deadline;

  const keepAlive = useMutation(
    trpc.auth.keepAlive.mutationOptions({
      onSuccess: (state) => queryClient.setQueryData(trpc.auth.session.queryKey(), state),
    }),
  );
  const signOut = useMutation(
    trpc.auth.logout.mutationOptions({
      // Past the deadline it was the idle timeout, not the person, who signed out: say so.
      onSettled: () => leave(pastDeadline ? { notice: idleNotice(idleTimeoutMs), returnHere: true } : {}),
    }),
  );

  useEffect(() => {
    if (pastDeadline) return;
    const tick = () => setClock({ now: Date.now() });
    const now = Date.now();
    // Asleep until the warning; then once a second for the countdown.
    const wait = now < warnAt ? warnAt - now : Math.min(1_000, deadline - now);
    const timer = window.setTimeout(tick, Math.max(0, wait));
    // A background tab's timers are held back: look again as soon as the tab is back.
    document.addEventListener('visibilitychange', tick);
    return () => {
      window.clearTimeout(timer);
      document.removeEventListener('visibilitychange', tick);
    };
  }, [clock, warnAt, deadline, pastDeadline]);

  useEffect(() => {
    if (pastDeadline && signOut.isIdle) signOut.mutate();
  }, [pastDeadline, signOut]);

  const warning = clock.now >= warnAt && !pastDeadline;
  const secondsLeft = Math.max(0, Math.ceil((deadline - clock.now) / 1_000));
  return (
    <Modal
      opened={warning}
      onClose={() => keepAlive.mutate()}
      title="Are you still there?"
      closeOnClickOutside={false}
      withCloseButton={false}
      centered
    >
      <Stack gap="md">
        <Text size="sm">
          To protect patient data, Phos signs you out after {Math.round(idleTimeoutMs / 60_000)} minutes without activity.
        </Text>
        <Text>
          You will be signed out in{' '}
          <Text component="span" fw={700}>
            {formatCountdown(secondsLeft)}
          </Text>
          .
        </Text>
        <VisuallyHidden role="status" aria-live="polite">
          {`Signing out in about ${Math.ceil(secondsLeft / ANNOUNCE_STEP_SECONDS) * ANNOUNCE_STEP_SECONDS} seconds`}
        </VisuallyHidden>
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={() => signOut.mutate()} loading={signOut.isPending}>
            Sign out
          </Button>
          <Button onClick={() => keepAlive.mutate()} loading={keepAlive.isPending} data-autofocus>
            Stay signed in
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function formatCountdown(seconds: number): string {
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}
