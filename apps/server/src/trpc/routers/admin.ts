import { createUserInput, userOutput } from '@phos/shared';
import { createUser } from '../../identity/users.js';
import { adminProcedure, router } from '../trpc.js';

export const adminRouter = router({
  createUser: adminProcedure
    .input(createUserInput)
    .output(userOutput)
    .mutation(async ({ ctx, input }) => {
      const { user, registrationId } = await createUser(ctx.db, input);
      ctx.services.kickRelay();
      ctx.log.info({ userId: user.id, role: user.role, registrationId, by: ctx.user.id }, 'account created');
      return { user };
    }),
});
