import { useQueryClient } from '@tanstack/react-query';
import { createContext, lazy, Suspense, use, useEffect, useEffectEvent } from 'react';
import { useLeaveSession, useMe } from '../auth';
import { useTRPC } from '../trpc';
import type { SessionSignals } from './signals';

// Only a signed-in app needs the idle warning (and its modal): the sign-in page loads without it.
const IdleWarning = lazy(() => import('./IdleWarning').then((module) => ({ default: module.IdleWarning })));

const SessionSignalsContext = createContext<SessionSignals | null>(null);
export const SessionSignalsProvider = SessionSignalsContext.Provider;

export function useSessionSignals(): SessionSignals {
  const signals = use(SessionSignalsContext);
  if (!signals) throw new Error('useSessionSignals needs a SessionSignalsProvider');
  return signals;
}

const sessionEndedNotice = 'Your session ended. Sign in again to continue.';

/**
 * Ends the signed-in app when the session ends: on the server's word (any query, mutation or
 * stream answering that the session is over) or, for an idle session, on its own a minute after
 * warning. Mounted once, beside the routes.
 */
export function SessionGuard() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const signals = useSessionSignals();
  const leave = useLeaveSession();
  const me = useMe();

  const onSessionEnded = useEffectEvent(() => {
    // Many calls fail together when a session ends; the first one signs out, the rest find nobody.
    if (!queryClient.getQueryData(trpc.auth.me.queryKey())) return;
    leave({ notice: sessionEndedNotice, returnHere: true });
  });
  useEffect(() => signals.onSessionEnded(() => onSessionEnded()), [signals]);

  return me.data ? (
    <Suspense fallback={null}>
      <IdleWarning key={me.data.id} />
    </Suspense>
  ) : null;
}
