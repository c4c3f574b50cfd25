import {
  accountByIdInput,
  accountSchema,
  acuityTargetsSchema,
  changeRoleInput,
  createRoomInput,
  createUserInput,
  listAccountsInput,
  resetPasswordInput,
  roomSchema,
  uuidSchema,
  userOutput,
} from '@phos/shared';
import { z } from 'zod';
import { recordAudit, type AuditDetail } from '../../audit/audit.js';
import type { Db } from '../../db/client.js';
import { AppError } from '../../errors.js';
import { changeRole, disableAccount, enableAccount, listAccounts, resetPassword } from '../../identity/accounts.js';
import { createUser, findUserById } from '../../identity/users.js';
import { archiveRoom, createRoom, listRooms, setAcuityTargets } from '../../queue/settings.js';
import { auditWrite } from '../auditTrail.js';
import { auditActorOf, type Context } from '../context.js';
import { requireStrongPassword } from '../strongPassword.js';
import { adminProcedure, router } from '../trpc.js';

const accountOutput = z.object({ account: accountSchema });

/**
 * Runs an Admin's action on an account with its audit row in one transaction, then ends the
 * account's streams on every api instance (its sessions went in the same transaction). A refusal
 * is recorded too, on its own.
 */
async function actOnAccount<T>(
  ctx: Context,
  action: string,
  detail: AuditDetail & { targetUserId: string },
  work: (tx: Db) => Promise<T>,
): Promise<T> {
  const actor = auditActorOf(ctx);
  try {
    const result = await ctx.db.transaction(async (tx) => {
      const done = await work(tx);
      await recordAudit(tx, actor, { action, outcome: 'allowed', detail });
      return done;
    });
    ctx.services.sessionsRevoked();
    ctx.log.info({ action, targetUserId: detail.targetUserId, by: actor.userId }, 'account changed');
    return result;
  } catch (error) {
    if (error instanceof AppError) {
      await recordAudit(ctx.db, actor, { action, outcome: 'refused', detail: { ...detail, reason: error.appCode } });
    }
    throw error;
  }
}

export const adminRouter = router({
  listAccounts: adminProcedure
    .input(listAccountsInput)
    .output(z.object({ accounts: z.array(accountSchema) }))
    .query(async ({ ctx, input }) => ({ accounts: await listAccounts(ctx.db, input ?? {}) })),

  /** Signs the account out everywhere and keeps it out until re-enabled. */
  disableAccount: adminProcedure
    .input(accountByIdInput)
    .output(accountOutput)
    .mutation(async ({ ctx, input }) => ({
      account: await actOnAccount(ctx, 'admin.disableAccount', { targetUserId: input.id }, (tx) =>
        disableAccount(tx, ctx.user.id, input.id),
      ),
    })),

  enableAccount: adminProcedure
    .input(accountByIdInput)
    .output(accountOutput)
    .mutation(async ({ ctx, input }) => ({
      account: await actOnAccount(ctx, 'admin.enableAccount', { targetUserId: input.id }, (tx) => enableAccount(tx, input.id)),
    })),

  /** Between Provider and Admin only; the account signs in again with its new role. */
  changeRole: adminProcedure
    .input(changeRoleInput)
    .output(accountOutput)
    .mutation(async ({ ctx, input }) => ({
      account: await actOnAccount(ctx, 'admin.changeRole', { targetUserId: input.id, role: input.role }, (tx) =>
        changeRole(tx, input.id, input.role),
      ),
    })),

  /** Sets a password the Admin hands over; the account is signed out everywhere. */
  resetPassword: adminProcedure
    .input(resetPasswordInput)
    .output(z.object({ ok: z.literal(true) }))
    .mutation(async ({ ctx, input }) => {
      const target = await findUserById(ctx.db, input.id);
      if (target) await requireStrongPassword(input.password, target, 'password');
      await actOnAccount(ctx, 'admin.resetPassword', { targetUserId: input.id }, (tx) => resetPassword(tx, input.id, input.password));
      return { ok: true as const };
    }),

  /** Audited for every role: a Patient account becomes a record with a name and date of birth. */
  createUser: adminProcedure
    .meta(auditWrite())
    .input(createUserInput)
    .output(userOutput)
    .mutation(async ({ ctx, input }) => {
      await requireStrongPassword(input.password, input, 'password');
      const { user, registrationId } = await createUser(ctx.db, input, {
        requestId: ctx.requestId,
        alsoInTransaction: (tx, created) =>
          ctx.audit.record(tx, {
            patientIds: [],
            detail: { userId: created.user.id, role: created.user.role, registrationId: created.registrationId },
          }),
      });
      ctx.services.kickRelay();
      ctx.log.info({ userId: user.id, role: user.role, registrationId, by: ctx.user.id }, 'account created');
      return { user };
    }),

  setAcuityTargets: adminProcedure
    .input(acuityTargetsSchema)
    .output(acuityTargetsSchema)
    .mutation(({ ctx, input }) => ctx.db.transaction((tx) => setAcuityTargets(tx, input))),

  createRoom: adminProcedure
    .input(createRoomInput)
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
