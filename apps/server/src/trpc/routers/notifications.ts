import { tracked } from '@trpc/server';
import { inboxOutput, markReadInput, notificationSchema, queueOnChangeInput, type Inbox } from '@phos/shared';
import { z } from 'zod';
import { streamEvents } from '../../events/stream.js';
import { inboxOf, markRead } from '../../notifications/notifications.js';
import { auditRead, noPatient, patientsInOutput } from '../auditTrail.js';
import { authedProcedure, router } from '../trpc.js';

/** The patients an inbox names: each notification links to the patient it is about. */
function patientsLinkedFrom({ notifications }: Inbox): string[] {
  const ids = notifications.flatMap((notification) => /^\/patients\/([0-9a-f-]{36})$/i.exec(notification.link)?.[1] ?? []);
  return [...new Set(ids)];
}

export const notificationsRouter = router({
  /** Notifications carry patient names: reading them is reading those patients. */
  inbox: authedProcedure
    .meta(auditRead(patientsInOutput(patientsLinkedFrom)))
    .output(inboxOutput)
    .query(({ ctx }) => inboxOf(ctx.db, ctx.user.id)),

  markRead: authedProcedure
    .input(markReadInput)
    .output(z.object({ ok: z.literal(true) }))
    .mutation(async ({ ctx, input }) => {
      await markRead(ctx.db, ctx.user.id, input.ids);
      return { ok: true as const };
    }),

  markAllRead: authedProcedure.output(z.object({ ok: z.literal(true) })).mutation(async ({ ctx }) => {
    await markRead(ctx.db, ctx.user.id, 'all');
    return { ok: true as const };
  }),

  /** The caller's new notifications, live, resuming from `lastEventId` like the queue stream. */
  onNew: authedProcedure
    .meta(auditRead(noPatient))
    .input(queueOnChangeInput)
    .subscription(async function* ({ ctx, input, signal }) {
      for await (const event of streamEvents(ctx.db, ctx.services.hub, input?.lastEventId, signal)) {
        if (event.type !== 'notifications.created') continue;
        for (const { userId, ...notification } of event.payload.notifications) {
          if (userId === ctx.user.id) yield tracked(event.id.toString(), notificationSchema.parse(notification));
        }
      }
    }),
});
