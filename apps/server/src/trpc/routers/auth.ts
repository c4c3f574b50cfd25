import {
  changePasswordInput,
  loginInput,
  registerInput,
  sessionStateSchema,
  userOutput,
  userSchema,
  type SessionState,
  type User,
} from '@phos/shared';
import { z } from 'zod';
import { recordAudit } from '../../audit/audit.js';
import { AppError } from '../../errors.js';
import { changeOwnPassword } from '../../identity/accounts.js';
import {
  createSession,
  deleteSession,
  deleteUserSessions,
  idleTimeoutFor,
  renewSession,
  type SessionRecord,
} from '../../identity/sessions.js';
import { registerWithSession } from '../../identity/registration.js';
import { auditWrite } from '../auditTrail.js';
import { auditActorOf, type Context } from '../context.js';
import { checkSignIn } from '../signIn.js';
import { requireStrongPassword } from '../strongPassword.js';
import { authedProcedure, publicProcedure, router } from '../trpc.js';

async function signIn(ctx: Context, user: User): Promise<void> {
  const session = await createSession(ctx.db, user, ctx.services.sessionPolicy);
  ctx.sessionCookie.set(session.token);
}

function sessionState(ctx: Context, role: User['role'], session: SessionRecord): SessionState {
  return {
    idleTimeoutMs: Math.round(idleTimeoutFor(ctx.services.sessionPolicy, role)),
    idleExpiresAt: session.idleExpiresAt.toISOString(),
    expiresAt: session.expiresAt.toISOString(),
  };
}

const ok = z.object({ ok: z.literal(true) });

export const authRouter = router({
  /**
   * Public self-registration: always a Patient, whose name and date of birth become a record.
   * The account, its outbox row and its session commit together; the cookie is set after. The
   * same registration sent again shortly after (its answer was lost) signs in to that account.
   */
  register: publicProcedure
    .meta(auditWrite())
    .input(registerInput)
    .output(userOutput)
    .mutation(async ({ ctx, input }) => {
      // Counted first: scoring the password costs CPU, so it too is throttled per address. A
      // retry counts as an attempt too.
      await ctx.services.signIn.countRegistration(ctx.ip);
      await requireStrongPassword(input.password, input, 'password');
      const { user, registrationId, session, retried } = await registerWithSession(ctx.db, input, {
        policy: ctx.services.sessionPolicy,
        requestId: ctx.requestId,
        alsoInTransaction: (tx, registered) =>
          ctx.audit.record(tx, {
            patientIds: [],
            detail: {
              userId: registered.user.id,
              registrationId: registered.registrationId,
              ...(registered.retried ? { retried: true } : {}),
            },
          }),
      });
      if (!retried) ctx.services.kickRelay();
      ctx.log.info(
        { userId: user.id, registrationId, retried },
        retried ? 'patient registration repeated; signed in' : 'patient registered',
      );
      ctx.sessionCookie.set(session.token);
      return { user };
    }),

  login: publicProcedure
    .input(loginInput)
    .output(userOutput)
    .mutation(async ({ ctx, input }) => {
      const user = await checkSignIn(ctx, input);
      await signIn(ctx, user);
      return { user };
    }),

  logout: authedProcedure.output(ok).mutation(async ({ ctx }) => {
    await ctx.db.transaction(async (tx) => {
      if (ctx.sessionToken) await deleteSession(tx, ctx.sessionToken);
      await recordAudit(tx, auditActorOf(ctx), { action: 'auth.logout', outcome: 'allowed' });
    });
    ctx.services.sessionsRevoked();
    ctx.sessionCookie.clear();
    return { ok: true as const };
  }),

  /** When this session idles out and when it ends regardless; reading it does not renew it. */
  session: publicProcedure
    .output(sessionStateSchema.nullable())
    .query(({ ctx }) => (ctx.user && ctx.session ? sessionState(ctx, ctx.user.role, ctx.session) : null)),

  /** "Stay signed in": renews the idle end now and answers the new state. */
  keepAlive: authedProcedure.output(sessionStateSchema).mutation(async ({ ctx }) => {
    if (!ctx.session) throw new AppError('SESSION_ENDED');
    const renewed = await renewSession(ctx.db, ctx.session, ctx.user.role, ctx.services.sessionPolicy, { force: true });
    if (!renewed) throw new AppError('SESSION_ENDED');
    return sessionState(ctx, ctx.user.role, renewed);
  }),

  /** Needs the current password; signs out every other session of this user, keeps this one. */
  changePassword: authedProcedure
    .input(changePasswordInput)
    .output(ok)
    .mutation(async ({ ctx, input }) => {
      await requireStrongPassword(input.newPassword, ctx.user, 'newPassword');
      try {
        await ctx.db.transaction(async (tx) => {
          await changeOwnPassword(tx, {
            userId: ctx.user.id,
            currentPassword: input.currentPassword,
            newPassword: input.newPassword,
            keepSession: ctx.session?.tokenHash ?? null,
          });
          await recordAudit(tx, auditActorOf(ctx), { action: 'auth.changePassword', outcome: 'allowed' });
        });
      } catch (error) {
        if (error instanceof AppError && error.appCode === 'WRONG_PASSWORD') {
          await recordAudit(ctx.db, auditActorOf(ctx), {
            action: 'auth.changePassword',
            outcome: 'refused',
            detail: { reason: error.appCode },
          });
        }
        throw error;
      }
      ctx.services.sessionsRevoked();
      return { ok: true as const };
    }),

  /** Ends every session of this user, this one included. */
  signOutEverywhere: authedProcedure.output(ok).mutation(async ({ ctx }) => {
    const sessions = await ctx.db.transaction(async (tx) => {
      const deleted = await deleteUserSessions(tx, ctx.user.id);
      await recordAudit(tx, auditActorOf(ctx), {
        action: 'auth.signOutEverywhere',
        outcome: 'allowed',
        detail: { sessions: deleted },
      });
      return deleted;
    });
    ctx.log.info({ userId: ctx.user.id, sessions }, 'signed out everywhere');
    ctx.services.sessionsRevoked();
    ctx.sessionCookie.clear();
    return { ok: true as const };
  }),

  me: publicProcedure.output(userSchema.nullable()).query(({ ctx }) => ctx.user),
});
