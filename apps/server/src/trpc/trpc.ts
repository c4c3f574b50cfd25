import { initTRPC, TRPCError } from '@trpc/server';
import { appErrorCodes, staffRoles, type Role } from '@phos/shared';
import { z, ZodError } from 'zod';
import { isDatabaseBusy, isDatabaseUnavailable } from '../db/client.js';
import { AppError } from '../errors.js';
import { errorCode } from '../logging.js';
import { auditRecorder, settleAudit, type AuditRecorder, type Meta } from './auditTrail.js';
import type { Context } from './context.js';
import { servicesUntil, untilSessionEnds } from './streams.js';

/** What the caller of a failed procedure sees for anything unexpected. */
function unexpectedErrorMessage(requestId: string | null): string {
  return requestId ? `Something went wrong (request ${requestId})` : 'Something went wrong';
}

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    errorFormatter({ shape, error, ctx }) {
      const cause = error.cause;
      const zodError = error.code === 'BAD_REQUEST' && cause instanceof ZodError ? z.flattenError(cause) : null;
      // Stacks stay in the server's log; a client never sees one.
      const { stack: _stack, ...data } = shape.data;
      const requestId = ctx?.requestId ?? null;
      // An unexpected error's message may hold SQL, its parameters (a password hash, a name) or
      // driver detail: that goes to the (redacted) log, and the caller gets an id to quote.
      const unexpected = error.code === 'INTERNAL_SERVER_ERROR';
      return {
        ...shape,
        message: unexpected ? unexpectedErrorMessage(requestId) : zodError ? 'Invalid input' : shape.message,
        data: {
          ...data,
          appCode: unexpected ? ('INTERNAL' as const) : cause instanceof AppError ? cause.appCode : null,
          zodError,
          requestId,
        },
      };
    },
    sse: {
      ping: { enabled: true, intervalMs: 10_000 },
      client: { reconnectAfterInactivityMs: 25_000 },
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** The AppError a database fault becomes, if it is one the caller can retry. */
export function databaseFault(error: unknown): AppError | undefined {
  if (isDatabaseBusy(error)) return new AppError('BUSY');
  if (isDatabaseUnavailable(error)) return new AppError('UNAVAILABLE');
  return undefined;
}

/**
 * Domains throw AppError; this is the one place it becomes a tRPC code. A database timeout (a
 * statement, a lock wait, an idle transaction) rolled the work back, and a database that could
 * not be reached did nothing or lost the connection: either way the caller may retry.
 */
const mapAppErrors = t.middleware(async function mapAppErrors({ ctx, path, next }) {
  const result = await next();
  if (result.ok) return result;
  const fault = databaseFault(result.error.cause);
  if (fault) {
    const fields = { path, requestId: ctx.requestId, code: errorCode(result.error.cause) };
    ctx.services.log.warn(
      fields,
      fault.appCode === 'BUSY' ? 'database busy; the caller was told to retry' : 'database unavailable; the caller was told to retry',
    );
  }
  const cause = fault ?? result.error.cause;
  if (cause instanceof AppError) {
    throw new TRPCError({ code: appErrorCodes[cause.appCode], message: cause.message, cause });
  }
  return result;
});

/**
 * Every call gets `ctx.audit`; a procedure declared with `auditRead`/`auditWrite` leaves exactly
 * one audit row, refusals included, since this runs before the sign-in and role checks.
 */
const recordAccess = t.middleware(async function recordAccess({ ctx, meta, path, getRawInput, next }) {
  const recorder = auditRecorder(ctx, path);
  const audit: AuditRecorder = recorder;
  const result = await next({ ctx: { audit } });
  if (!meta?.audit) return result;
  return settleAudit({ ctx, path, spec: meta.audit, input: await getRawInput(), recorder }, result);
});

const requireUser = t.middleware(function requireUser({ ctx, next }) {
  if (!ctx.user) throw new AppError('NOT_SIGNED_IN');
  return next({ ctx: { ...ctx, user: ctx.user } });
});

/**
 * A subscription takes one of its session's stream slots and ends, with SESSION_ENDED, when the
 * session does. A context with a user but no session is an in-process caller (tests, scripts):
 * over HTTP a user only ever comes with its session.
 */
const endWithSession = t.middleware(async function endWithSession({ ctx, type, path, signal, next }) {
  if (type !== 'subscription' || !ctx.session || !ctx.user) return next();
  const stream = ctx.services.streams.open({ tokenHash: ctx.session.tokenHash, userId: ctx.user.id, role: ctx.user.role }, path);
  // A client gone before its stream started would never run the stream's cleanup.
  signal?.addEventListener('abort', stream.close, { once: true });
  const result = await next({ ctx: { services: servicesUntil(ctx.services, stream.signal) } });
  if (!result.ok) {
    stream.close();
    return result;
  }
  return { ...result, data: untilSessionEnds(result.data as AsyncIterable<unknown>, stream) };
});

export const publicProcedure = t.procedure.use(mapAppErrors).use(recordAccess);
export const authedProcedure = publicProcedure.use(requireUser).use(endWithSession);

/** The signed-in procedure for these roles only: chained on `authedProcedure`, whose context already holds the user. */
function authedAs(allowed: readonly Role[]) {
  return authedProcedure.use(function requireRole({ ctx, next }) {
    if (!allowed.includes(ctx.user.role)) throw new AppError('FORBIDDEN');
    return next();
  });
}

export const providerProcedure = authedAs(staffRoles);
/** Clinical judgement (signing a care plan): Providers only, never an Admin. */
export const clinicianProcedure = authedAs(['Provider']);
export const adminProcedure = authedAs(['Admin']);
export const patientProcedure = authedAs(['Patient']);
