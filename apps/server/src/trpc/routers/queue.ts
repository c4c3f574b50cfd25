import { tracked } from '@trpc/server';
import { queueChangeSchema, queueListOutput, queueOnChangeInput, type QueueChange } from '@phos/shared';
import { headEventId, readEventsAfter, type LoggedEvent } from '../../events/log.js';
import { listActiveEntries } from '../../queue/queue.js';
import { providerProcedure, router } from '../trpc.js';

function toQueueChange(event: LoggedEvent): QueueChange | null {
  switch (event.type) {
    case 'queue.entry.added':
      return { type: 'queue.entry.added', entry: event.payload.entry };
    case 'patient.created':
      return null;
  }
}

export const queueRouter = router({
  list: providerProcedure.output(queueListOutput).query(async ({ ctx }) => {
    // One snapshot: the entries are exactly those the events up to lastEventId produced.
    return ctx.db.transaction(
      async (tx) => {
        const lastEventId = await headEventId(tx);
        const entries = await listActiveEntries(tx);
        return { entries, lastEventId: lastEventId.toString() };
      },
      { isolationLevel: 'repeatable read', accessMode: 'read only' },
    );
  }),

  /**
   * Every queue change after `lastEventId`, once and in order, then live ones. Listens before it
   * replays the log, and skips what the replay already sent, so nothing falls in between.
   */
  onChange: providerProcedure.input(queueOnChangeInput).subscription(async function* ({ ctx, input, signal }) {
    const live = ctx.services.hub.listen(signal);
    const head = await headEventId(ctx.db);
    const requested = input?.lastEventId ? BigInt(input.lastEventId) : head;
    // A cursor past the head belongs to another database: start from what is there.
    let cursor = requested > head ? head : requested;

    async function* upTo(uptoId: bigint | undefined) {
      for (;;) {
        const events = await readEventsAfter(ctx.db, cursor, { uptoId, limit: 500 });
        if (events.length === 0) return;
        yield* events;
      }
    }

    function* emit(event: LoggedEvent) {
      cursor = event.id;
      const change = toQueueChange(event);
      if (change) yield tracked(event.id.toString(), queueChangeSchema.parse(change));
    }

    for await (const event of upTo(undefined)) yield* emit(event);
    for await (const batch of live) {
      for (const event of batch) {
        if (event.id <= cursor) continue;
        if (event.id > cursor + 1n) for await (const missed of upTo(event.id - 1n)) yield* emit(missed);
        yield* emit(event);
      }
    }
  }),
});
