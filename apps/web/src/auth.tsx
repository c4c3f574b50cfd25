import type { Role, User } from '@phos/shared';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router';
import { FullPageLoader } from './components/FullPageLoader';
import { LoadError } from './components/LoadError';
import { NotAllowed } from './components/NotAllowed';
import { discardEarlyAnswers } from './boot';
import { useTRPC } from './trpc';

export function homeFor(role: Role): string {
  return role === 'Patient' ? '/me' : '/dashboard';
}

/** The signed-in user (null when signed out); the session itself lives in an HttpOnly cookie. */
export function useMe() {
  const trpc = useTRPC();
  return useQuery(trpc.auth.me.queryOptions(undefined, { staleTime: 5 * 60_000 }));
}

/** Records a fresh sign-in so every page sees it without another round trip. */
export function useSetSignedIn() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return (user: User) => {
    // Another user's cached data must never show through.
    discardEarlyAnswers();
    queryClient.removeQueries();
    queryClient.setQueryData(trpc.auth.me.queryKey(), user);
  };
}

/** What the sign-in page tells someone who was signed out without asking to be. */
export interface SignedOutState {
  notice: string;
}

export function isSignedOutState(value: unknown): value is SignedOutState {
  return typeof value === 'object' && value !== null && 'notice' in value && typeof value.notice === 'string';
}

/**
 * Leaves the signed-in app for the sign-in page with nothing of the session left behind: every
 * cached query (patients, the queue, the inbox) goes with it, not just what is on screen.
 * `returnHere` brings the person back to the same page once they sign in again.
 */
export function useLeaveSession() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  return ({ notice, returnHere = false }: { notice?: string; returnHere?: boolean } = {}) => {
    const here = `${location.pathname}${location.search}`;
    const to = returnHere && here !== '/login' ? `/login?from=${encodeURIComponent(here)}` : '/login';
    const state: SignedOutState | null = notice ? { notice } : null;
    void navigate(to, { replace: true, state });
    discardEarlyAnswers();
    queryClient.clear();
    queryClient.setQueryData(trpc.auth.me.queryKey(), null);
  };
}

export function useSignOut() {
  const trpc = useTRPC();
  const leave = useLeaveSession();
  // Whether or not the server answered, this browser forgets the session.
  return useMutation(trpc.auth.logout.mutationOptions({ onSettled: () => leave() }));
}

interface RequireRoleProps {
  roles: readonly Role[];
  children: (user: User) => ReactNode;
}

/** Sends visitors to sign in, and tells signed-in users without the role that they may not look. */
export function RequireRole({ roles, children }: RequireRoleProps) {
  const me = useMe();
  const location = useLocation();
  if (me.isPending) return <FullPageLoader />;
  if (me.isError) return <LoadError error={me.error} onRetry={() => void me.refetch()} />;
  const user = me.data;
  if (!user) {
    const from = `${location.pathname}${location.search}`;
    return <Navigate to={`/login?from=${encodeURIComponent(from)}`} replace />;
  }
  if (!roles.includes(user.role)) return <NotAllowed home={homeFor(user.role)} />;
  return <>{children(user)}</>;
}

export function RedirectHome() {
  const me = useMe();
  if (me.isPending) return <FullPageLoader />;
  if (me.isError) return <LoadError error={me.error} onRetry={() => void me.refetch()} />;
  return <Navigate to={me.data ? homeFor(me.data.role) : '/login'} replace />;
}
