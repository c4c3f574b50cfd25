/**
 * The page's first script, an entry of its own in index.html so it runs before the app's code is
 * evaluated (React, Mantine, the schemas: hundreds of milliseconds on a slow machine): it asks for
 * what the first screen needs while that code is still loading. It imports nothing, so nothing has
 * to load before it.
 *
 * Nothing here is trusted more than the app's own calls: the server decides what the session may
 * read; a refused or failed request is dropped and the app asks again through tRPC; an answer is
 * handed out at most once, to the app's own first call of that query (`earlyAnswersLink` in
 * trpc.ts), and a sign-in or sign-out throws away what was not taken.
 */

/** Queries without input that the first screen waits for. */
export type EarlyQuery = 'auth.me' | 'queue.list';

/** The procedure's output (tRPC puts it under `result.data`; no transformer), or undefined when there is none to use. */
function ask(path: EarlyQuery): Promise<unknown> {
  // What tRPC's httpBatchLink sends for a batch of one query without input (methodOverride POST).
  return fetch(`/trpc/${path}?batch=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
    credentials: 'same-origin',
  })
    .then(async (response) => {
      if (!response.ok) return undefined;
      const batch: unknown = await response.json();
      const answer: unknown = Array.isArray(batch) ? batch[0] : undefined;
      if (typeof answer !== 'object' || answer === null || !('result' in answer)) return undefined;
      const { result } = answer;
      return typeof result === 'object' && result !== null && 'data' in result ? result.data : undefined;
    })
    .catch(() => undefined);
}

function isStaff(user: unknown): boolean {
  return typeof user === 'object' && user !== null && 'role' in user && (user.role === 'Provider' || user.role === 'Admin');
}

const early = new Map<EarlyQuery, Promise<unknown>>();

// Every page asks who is signed in first; the dashboard's address asks for the queue as soon as
// that answer says staff, so a visitor's or a patient's browser never asks for it.
const me = ask('auth.me');
early.set('auth.me', me);
const page = window.location.pathname;
if (page === '/dashboard')
  early.set(
    'queue.list',
    me.then((user) => (isStaff(user) ? ask('queue.list') : undefined)),
  );

// The page's code too, beside the app's: the route would otherwise load it after `auth.me`.
const pageCode: Partial<Record<string, () => Promise<unknown>>> = {
  '/dashboard': () => import('./pages/DashboardPage'),
  '/login': () => import('./pages/LoginPage'),
  '/register': () => import('./pages/RegisterPage'),
};
pageCode[page]?.().catch(() => undefined);

/** The early answer to `path`, once; it settles to undefined when the server did not answer it. */
export function takeEarlyAnswer(path: string): Promise<unknown> | undefined {
  const answer = early.get(path as EarlyQuery);
  early.delete(path as EarlyQuery);
  return answer;
}

/** A sign-in or sign-out: what was read with the page's first session must not show through. */
export function discardEarlyAnswers(): void {
  early.clear();
}
