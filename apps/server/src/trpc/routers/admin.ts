import { acuityTargetsSchema, createUserInput, roomSchema, uuidSchema, userOutput } from '@phos/shared';
import { z } from 'zod';
import { createUser } from '../../identity/users.js';
import { archiveRoom, createRoom, listRooms, setAcuityTargets } from '../../queue/settings.js';
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

  setAcuityTargets: adminProcedure
    .input(acuityTargetsSchema)
    .output(acuityTargetsSchema)
    .mutation(({ ctx, input }) => ctx.db.transaction((tx) => setAcuityTargets(tx, input))),

  createRoom: adminProcedure
    .input(z.object({ name: z.string().trim().min(1, 'Required').max(60, 'Must be at most 60 characters') }))
    .output(roomSchema)
    .mutation(({ ctx, input }) => createRoom(ctx.db, input.name)),

  archiveRoom: adminProcedure
    .input(z.object({ id: uuidSchema }))
    .output(z.array(roomSchema))
    .mutation(async ({ ctx, input }) => {
      await archiveRoom(ctx.db, input.id);
      return listRooms(ctx.db);
    }),
});
