import { loginInput, registerInput, userOutput, userSchema } from '@phos/shared';
import { z } from 'zod';
import { createSession, deleteSession } from '../../identity/sessions.js';
import { authenticate, createUser } from '../../identity/users.js';
import type { Context } from '../context.js';
import { authedProcedure, publicProcedure, router } from '../trpc.js';

async function signIn(ctx: Context, userId: string): Promise<void> {
  const session = await createSession(ctx.db, userId);
  ctx.sessionCookie.set(session.token);
}

export const authRouter = router({
  /** Public self-registration: always a Patient. */
  register: publicProcedure
    .input(registerInput)
    .output(userOutput)
    .mutation(async ({ ctx, input }) => {
      const { user, registrationId } = await createUser(ctx.db, { ...input, role: 'Patient' });
      ctx.services.kickRelay();
      ctx.log.info({ userId: user.id, registrationId }, 'patient registered');
      await signIn(ctx, user.id);
      return { user };
    }),

  login: publicProcedure
    .input(loginInput)
    .output(userOutput)
    .mutation(async ({ ctx, input }) => {
      const user = await authenticate(ctx.db, input.email, input.password);
      await signIn(ctx, user.id);
      return { user };
    }),

  logout: authedProcedure.output(z.object({ ok: z.literal(true) })).mutation(async ({ ctx }) => {
    if (ctx.sessionToken) await deleteSession(ctx.db, ctx.sessionToken);
    ctx.sessionCookie.clear();
    return { ok: true as const };
  }),

  me: publicProcedure.output(userSchema.nullable()).query(({ ctx }) => ctx.user),
});
