import { useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useState } from 'react';
import type { LiveState } from '../components/LiveIndicator';
import { useTRPC } from '../trpc';

/**
 * Keeps a staff member's view of one patient current: each change signal for the patient
 * refetches what it is about (record and journey, or care plans). No polling.
 */
export function usePatientLive(patientId: string, enabled: boolean) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [everConnected, setEverConnected] = useState(false);

  const refetchRecord = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.patients.byId.queryKey({ id: patientId }) }),
      queryClient.invalidateQueries({ queryKey: trpc.patients.journey.queryKey({ id: patientId }) }),
    ]);
  const refetchPlans = () => queryClient.invalidateQueries({ queryKey: trpc.carePlans.forPatient.queryKey({ id: patientId }) });

  const subscription = useSubscription(
    trpc.patients.onChange.subscriptionOptions(
      { id: patientId },
      {
        enabled,
        // A change between the first reads and the stream opening would otherwise go unseen;
        // later reconnects resume from the last event id, so this costs one refetch per connect.
        onStarted: () => {
          setEverConnected(true);
          void Promise.all([refetchRecord(), refetchPlans()]);
        },
        // Only what the signal is about: a care plan event leaves the queue journey as it was.
        onData: ({ data }) => void (data.type.startsWith('careplan.') ? refetchPlans() : refetchRecord()),
      },
    ),
  );

  let state: LiveState;
  if (subscription.status === 'pending') state = 'live';
  else if (subscription.status === 'error') state = 'offline';
  else state = everConnected ? 'reconnecting' : 'connecting';

  return { state, reconnect: () => subscription.reset() };
}
