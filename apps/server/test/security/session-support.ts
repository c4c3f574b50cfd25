import { TRPCError } from '@trpc/server';
import type { User } from '@phos/shared';
import type { Phos } from '../../src/app.js';
import { AppError } from '../../src/errors.js';
import { createSession, resolveSession } from '../../src/identity/sessions.js';
import { createContextInner, type SessionCookie } from '../../src/trpc/context.js';
import { createCaller } from '../../src/trpc/router.js';
import { recordingCookie, TEST_PASSWORD } from '../support.js';

export const PASSWORD = TEST_PASSWORD;

/**
 * A caller in the session of `token`, resolved as the HTTP adapter resolves it for a request
 * (`renew` false for a stream's request): null user and session once it has ended. `signal`
 * stands for the client leaving, as the adapter's request signal does.
 */
export async function callerInSession(
  phos: Phos,
  token: string,
  options: { renew?: boolean; cookie?: SessionCookie; signal?: AbortSignal } = {},
) {
  const resolved = await resolveSession(phos.services.db, token, phos.services.sessionPolicy, { renew: options.renew ?? true });
  const context = createContextInner({
    services: phos.services,
    user: resolved?.user ?? null,
    session: resolved?.session ?? null,
    sessionToken: token,
    sessionCookie: options.cookie ?? recordingCookie(),
  });
  return createCaller(context, { signal: options.signal });
}

/** Signs `user` in as `auth.login` would, and answers the cookie's token. */
export async function sessionOf(phos: Phos, user: User): Promise<string> {
  const { token } = await createSession(phos.services.db, user, phos.services.sessionPolicy);
  return token;
}

export function appCodeOf(error: unknown): string | undefined {
  if (error instanceof TRPCError && error.cause instanceof AppError) return error.cause.appCode;
  if (error instanceof AppError) return error.appCode;
  return undefined;
}

type Caller = Awaited<ReturnType<typeof callerInSession>>;

/**
 * A stream opened in the session of `token`, as a live view opens it (no renewal). `ended`
 * settles with the error it failed with, or 'done' if it closed quietly; `close` is the client
 * leaving. Its `next()` stays pending meanwhile, as a view waiting for events.
 */
export async function openStream(phos: Phos, token: string, subscribe: (caller: Caller) => Promise<AsyncIterable<unknown>>) {
  const controller = new AbortController();
  const iterable = await subscribe(await callerInSession(phos, token, { renew: false, signal: controller.signal }));
  const iterator = iterable[Symbol.asyncIterator]();
  const ended = (async (): Promise<unknown> => {
    try {
      for (;;) {
        const step = await iterator.next();
        if (step.done) return 'done';
      }
    } catch (error) {
      return error;
    }
  })();
  return { ended, close: () => controller.abort() };
}

export const queueStream = (caller: Caller) => caller.queue.onChange();

/** How long `ended` takes to settle after now, and with what. */
export async function timeToEnd(ended: Promise<unknown>): Promise<{ ms: number; outcome: unknown }> {
  const started = Date.now();
  const outcome = await ended;
  return { ms: Date.now() - started, outcome };
}
