import { apiClientListOutput, apiClientOutput, createApiClientInput, createdApiClientOutput, revokeApiClientInput } from '@phos/shared';
import { recordAudit, type AuditDetail } from '../../audit/audit.js';
import type { Db } from '../../db/client.js';
import { AppError } from '../../errors.js';
import { createApiClient, listApiClients, revokeApiClient } from '../../identity/apiClients.js';
import { auditActorOf, type Context } from '../context.js';
import { adminProcedure, router } from '../trpc.js';

/**
 * Runs an Admin's change to an API client with its audit row in one transaction; a refusal is
 * recorded on its own. The row names the client and its scopes, never the token.
 */
async function actOnApiClient<T extends { client: { id: string; scopes: string[] } }>(
  ctx: Context,
  action: string,
  detail: AuditDetail,
  work: (tx: Db) => Promise<T>,
): Promise<T> {
  const actor = auditActorOf(ctx);
  try {
    const result = await ctx.db.transaction(async (tx) => {
      const done = await work(tx);
      await recordAudit(tx, actor, {
        action,
        outcome: 'allowed',
        detail: { ...detail, apiClientId: done.client.id, scopes: done.client.scopes.join(' ') },
      });
      return done;
    });
    ctx.log.info({ action, apiClientId: result.client.id, by: actor.userId }, 'api client changed');
    return result;
  } catch (error) {
    if (error instanceof AppError) {
      await recordAudit(ctx.db, actor, { action, outcome: 'refused', detail: { ...detail, reason: error.appCode } });
    }
    throw error;
  }
}

/** System clients of the FHIR API (ADR 018): Admins only. */
export const apiClientsRouter = router({
  list: adminProcedure.output(apiClientListOutput).query(async ({ ctx }) => ({ clients: await listApiClients(ctx.db) })),

  /** The token is in this answer only: the Admin copies it now or creates another client. */
  create: adminProcedure
    .input(createApiClientInput)
    .output(createdApiClientOutput)
    .mutation(({ ctx, input }) =>
      actOnApiClient(ctx, 'apiClients.create', {}, (tx) =>
        createApiClient(tx, ctx.user.id, {
          name: input.name,
          scopes: input.scopes,
          expiresAt: input.expiresAt === undefined ? null : new Date(input.expiresAt),
        }),
      ),
    ),

  /** For good: a revoked client's next request is refused. */
  revoke: adminProcedure
    .input(revokeApiClientInput)
    .output(apiClientOutput)
    .mutation(async ({ ctx, input }) =>
      actOnApiClient(ctx, 'apiClients.revoke', { apiClientId: input.id }, async (tx) => ({
        client: await revokeApiClient(tx, input.id, ctx.user.id),
      })),
    ),
});
