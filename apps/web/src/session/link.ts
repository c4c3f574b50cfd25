import type { AppRouter } from '@phos/server/router';
import type { TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import { appCodeOf } from '../errors';
import type { SessionSignals } from './signals';

/**
 * Calls that do not renew the session: the server does not count reading the session's state,
 * and signing out must not push the deadline back.
 */
const notActivity = new Set(['auth.session', 'auth.logout']);

/** Queries that answer null, rather than an error, once the session is gone. */
const readsSession = new Set(['auth.me', 'auth.session']);

/**
 * Only the codes that say the session is gone end it: wrong credentials at sign-in are
 * UNAUTHORIZED too but end nothing, nor does signing out of a session that had already ended.
 */
function endsSession(path: string, error: unknown): boolean {
  if (path === 'auth.login' || path === 'auth.logout') return false;
  const code = appCodeOf(error);
  return code === 'SESSION_ENDED' || code === 'NOT_SIGNED_IN';
}

/**
 * Watches every call in one place, queries, mutations and subscriptions alike: each query and
 * mutation counts as activity (the server slides the idle timeout on it; streams do not), and an
 * answer saying the session is gone tells the app to sign out, wherever it came from.
 */
export function sessionLink(signals: SessionSignals): TRPCLink<AppRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        if (op.type !== 'subscription' && !notActivity.has(op.path)) signals.recordActivity();
        return next(op).subscribe({
          next(envelope) {
            // Signed out behind the app's back: a fresh read of the caller or the session says nobody.
            if (readsSession.has(op.path) && 'data' in envelope.result && envelope.result.data === null) signals.sessionEnded();
            observer.next(envelope);
          },
          error(error) {
            if (endsSession(op.path, error)) signals.sessionEnded();
            observer.error(error);
          },
          complete() {
            observer.complete();
          },
        });
      });
}
