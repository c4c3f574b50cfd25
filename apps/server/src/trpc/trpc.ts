import { initTRPC, TRPCError } from '@trpc/server';
import { appErrorCodes, staffRoles, type Role, type User } from '@phos/shared';
import { z, ZodError } from 'zod';
import { AppError } from '../errors.js';
import type { Context } from './context.js';

const t = initTRPC.context<Context>().create({
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    const zodError = error.code === 'BAD_REQUEST' && cause instanceof ZodError ? z.flattenError(cause) : null;
    // Stacks stay in the server's log; a client never sees one.
    const { stack: _stack, ...data } = shape.data;
    return {
      ...shape,
      message: zodError ? 'Invalid input' : shape.message,
      data: {
        ...data,
        appCode: cause instanceof AppError ? cause.appCode : null,
        zodError,
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

/** Domains throw AppError; this is the one place it becomes a tRPC code. */
const mapAppErrors = t.middleware(async function mapAppErrors({ next }) {
  const result = await next();
  if (!result.ok && result.error.cause instanceof AppError) {
    const cause = result.error.cause;
    throw new TRPCError({ code: appErrorCodes[cause.appCode], message: cause.message, cause });
  }
  return result;
});

const requireUser = t.middleware(function requireUser({ ctx, next }) {
  if (!ctx.user) throw new AppError('NOT_SIGNED_IN');
  return next({ ctx: { ...ctx, user: ctx.user } });
});

function requireRole(allowed: readonly Role[]) {
  return t.middleware(function requireRole({ ctx, next }) {
    const user = ctx.user as User;
    if (!allowed.includes(user.role)) throw new AppError('FORBIDDEN');
    return next();
  });
}

export const publicProcedure = t.procedure.use(mapAppErrors);
export const authedProcedure = publicProcedure.use(requireUser);
export const providerProcedure = authedProcedure.use(requireRole(staffRoles));
export const adminProcedure = authedProcedure.use(requireRole(['Admin']));
export const patientProcedure = authedProcedure.use(requireRole(['Patient']));
