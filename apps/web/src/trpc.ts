import type { AppRouter } from '@phos/server/router';
import { QueryClient } from '@tanstack/react-query';
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, type TRPCLink } from '@trpc/client';
import { createTRPCContext } from '@trpc/tanstack-react-query';
import { observable, type Unsubscribable } from '@trpc/server/observable';
import { takeEarlyAnswer } from './boot';
import { isApiError } from './errors';
import { sessionLink } from './session/link';
import type { SessionSignals } from './session/signals';

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

/** Client errors (4xx) will not change on a retry; network and 5xx errors may. */
function shouldRetry(failureCount: number, error: unknown): boolean {
  if (isApiError(error)) {
    const status = error.data?.httpStatus;
    if (status !== undefined && status < 500) return false;
  }
  return failureCount < 2;
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: { retry: shouldRetry, refetchOnWindowFocus: false, staleTime: 30_000 },
      mutations: { retry: false },
    },
  });
}

/**
 * Answers the app's first call of a query the page asked for before the app's code ran (boot.ts)
 * with that answer, as if it had come over the link below; when there was none to use, the call
 * goes out as usual. After the session link, so it sees these answers like any other.
 */
function earlyAnswersLink(): TRPCLink<AppRouter> {
  return () =>
    ({ op, next }) => {
      const early = op.type === 'query' && op.input === undefined ? takeEarlyAnswer(op.path) : undefined;
      if (!early) return next(op);
      return observable((observer) => {
        let unsubscribed = false;
        let sent: Unsubscribable | undefined;
        void early.then((data) => {
          if (unsubscribed) return;
          if (data === undefined) {
            sent = next(op).subscribe(observer);
            return;
          }
          observer.next({ result: { type: 'data', data } });
          observer.complete();
        });
        return () => {
          unsubscribed = true;
          sent?.unsubscribe();
        };
      });
    };
}

export function createTrpcClient(signals: SessionSignals) {
  // Same origin: the HttpOnly session cookie travels with both links.
  return createTRPCClient<AppRouter>({
    links: [
      sessionLink(signals),
      earlyAnswersLink(),
      splitLink({
        condition: (op) => op.type === 'subscription',
        // Resumes from the last tracked event id on reconnect.
        true: httpSubscriptionLink({ url: '/trpc' }),
        // Queries as POST too: inputs such as a name and date of birth never sit in a URL or a log.
        false: httpBatchLink({ url: '/trpc', methodOverride: 'POST' }),
      }),
    ],
  });
}
