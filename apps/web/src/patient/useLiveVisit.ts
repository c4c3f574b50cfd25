import type { Visit } from '@phos/shared';
import { useQuery } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useTRPC } from '../trpc';

/**
 * The signed-in Patient's visit: the query answers first, then the subscription pushes every
 * change (its first message is the current state, on every connect; the server starts listening
 * before it reads, so no change falls in between). What the subscription last said wins, so a
 * slow first read can never overwrite a newer push.
 */
export function useLiveVisit() {
  const trpc = useTRPC();
  const initial = useQuery(trpc.visit.mine.queryOptions());
  const live = useSubscription(trpc.visit.onMine.subscriptionOptions());
  const visit: Visit | undefined = live.data ?? initial.data;

  return { visit, initial, live };
}
