import type { AppRouter } from '@phos/server/router';
import { QueryClient } from '@tanstack/react-query';
import {
  createTRPCClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
} from '@trpc/client';
import { createTRPCContext } from '@trpc/tanstack-react-query';
import { sessionLink } from './session/link';
import type { SessionSignals } from './session/signals';

export type AppError = TRPCClientError<AppRouter>;

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

export function isAppError(error: unknown): error is AppError {
  return error instanceof TRPCClientError;
}

/** Client errors (4xx) will not change on a retry; network and 5xx errors may. */
function shouldRetry(failureCount: number, error: unknown): boolean {
  if (isAppError(error)) {
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

export function createTrpcClient(signals: SessionSignals) {
  // Same origin: the HttpOnly session cookie travels with both links.
  return createTRPCClient<AppRouter>({
    links: [
      sessionLink(signals),
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

/** Field messages from a BAD_REQUEST, keyed by input field. */
export function fieldErrorsOf(error: unknown): Partial<Record<string, string>> {
  if (!isAppError(error)) return {};
  const fieldErrors: Partial<Record<string, string[] | undefined>> = error.data?.zodError?.fieldErrors ?? {};
  const out: Partial<Record<string, string>> = {};
  for (const [field, messages] of Object.entries(fieldErrors)) {
    const first = messages?.[0];
    if (first !== undefined) out[field] = first;
  }
  return out;
}

/** A message for an alert, or null when the error is fully explained by field messages. */
export function formErrorOf(error: unknown): string | null {
  if (!error) return null;
  if (!isAppError(error)) return 'Something went wrong. Please try again.';
  const data = error.data;
  if (data?.code === 'BAD_REQUEST' && data.zodError) {
    const formErrors = data.zodError.formErrors;
    return formErrors.length > 0 ? formErrors.join(' ') : null;
  }
  if (data?.appCode === 'EMAIL_TAKEN') return 'An account with this email already exists. Sign in instead, or use another email.';
  // The server's own words for its refusals (a lockout carries when to try again).
  if (data?.appCode && data.appCode !== 'FORBIDDEN' && data.appCode !== 'INTERNAL') return error.message;
  if (data?.code === 'FORBIDDEN') return 'You are not allowed to do this.';
  if (data?.code === 'INTERNAL_SERVER_ERROR' || !data) return somethingWentWrong(data?.requestId ?? null);
  return error.message;
}

/** The request id lets support find the server's log line; the client is told nothing else. */
function somethingWentWrong(requestId: string | null): string {
  const generic = 'Something went wrong. Please try again.';
  return requestId ? `${generic} Quote this reference if you contact support: ${requestId}.` : generic;
}
