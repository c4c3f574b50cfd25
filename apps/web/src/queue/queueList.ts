import type { useTRPC } from '../trpc';

/**
 * The queue as the dashboard holds it. The subscription keeps this cache current, so it never
 * goes stale and is not refetched on reconnect: a refetch would only race the stream.
 */
export function queueListOptions(trpc: ReturnType<typeof useTRPC>) {
  return trpc.queue.list.queryOptions(undefined, { staleTime: Number.POSITIVE_INFINITY, refetchOnReconnect: false });
}
