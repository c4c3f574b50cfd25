import { eventLogStatusSchema } from '@phos/shared';
import { headEventId } from '../../events/log.js';
import { adminProcedure, router } from '../trpc.js';

export const opsRouter = router({
  /**
   * The log's head and the events this api instance could not read (a newer build's, during a
   * rolling deploy): ids, types, versions and reasons, never payloads.
   */
  eventLog: adminProcedure.output(eventLogStatusSchema).query(async ({ ctx }) => {
    const { skipped, lastSkipped } = ctx.services.hub.unreadable.snapshot();
    return {
      head: (await headEventId(ctx.db)).toString(),
      skipped,
      lastSkipped: lastSkipped.map((event) => ({ ...event, id: event.id.toString() })),
    };
  }),
});
