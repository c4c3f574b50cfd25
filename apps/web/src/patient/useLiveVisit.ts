import type { Visit } from '@phos/shared';
import { useQuery } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useTRPC } from '../trpc';

/**
 * The signed-in Patient's visit: the query answers first, then the subscription pushes every
 * change (its first message is the current state, on every connect). What the subscription last
 * said wins, so a slow first read can never overwrite a newer push.
 */
export function useLiveVisit() {
  const trpc = useTRPC();
  const initial = useQuery(trpc.visit.mine.queryOptions());
  const live = useSubscription(trpc.visit.onMine.subscriptionOptions());
  const visit: Visit | undefined = live.data ?? initial.data;

  // visit.onMine reads the visit before it starts listening, so a record committed in between
  // would leave the page at "received". registration.onStatus listens first: when it says
  // ready and the visit still says received, resubscribe for a fresh current state.
  useSubscription(
    trpc.registration.onStatus.subscriptionOptions(undefined, {
      enabled: visit?.stage === 'received',
      onData: (status) => {
        if (status.state === 'ready') live.reset();
      },
    }),
  );

  return { visit, initial, live };
}
