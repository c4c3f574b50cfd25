import { tracked } from '@trpc/server';
import {
  queueChangeSchema,
  queueEntrySchema,
  queueListOutput,
  queueOnChangeInput,
  roomSchema,
  staffRefSchema,
  acuityTargetsSchema,
  transitionInput,
  triageInput,
  undoInput,
  type QueueChange,
  type StaffRef,
} from '@phos/shared';
import { z } from 'zod';
import { commitWithEvents, headEventId, type LoggedEvent } from '../../events/log.js';
import { streamEvents } from '../../events/stream.js';
import { AppError } from '../../errors.js';
import { displayName, findUserById, listUsersByRole } from '../../identity/users.js';
import { listActiveEntries, transitionEntry, triageEntry, undoLastTransition } from '../../queue/queue.js';
import { findRoom, getAcuityTargets, listRooms } from '../../queue/settings.js';
import type { Context } from '../context.js';
import { staffRef } from '../staff.js';
import { providerProcedure, router } from '../trpc.js';

function toQueueChange(event: LoggedEvent): QueueChange | null {
  switch (event.type) {
    case 'queue.entry.added':
      return { type: 'queue.entry.added', entry: event.payload.entry };
    case 'queue.entry.updated':
      return { type: 'queue.entry.updated', ...event.payload };
    case 'patient.created':
    case 'careplan.drafted':
    case 'careplan.approved':
    case 'careplan.rejected':
    case 'queue.entry.overdue':
    case 'notifications.created':
      return null;
  }
}

async function clinicianRef(ctx: Context, clinicianId: string): Promise<StaffRef> {
  const clinician = await findUserById(ctx.db, clinicianId);
  if (clinician?.role !== 'Provider') throw new AppError('INVALID_INPUT', 'Choose a Provider as the clinician');
  return { id: clinician.id, name: displayName(clinician) };
}

const entryOutput = z.object({ entry: queueEntrySchema });

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

  /** What a dashboard needs besides the entries: targets per acuity, rooms and clinicians. */
  settings: providerProcedure
    .output(
      z.object({ targets: acuityTargetsSchema, rooms: z.array(roomSchema), clinicians: z.array(staffRefSchema) }),
    )
    .query(async ({ ctx }) => {
      const [targets, rooms, providers] = await Promise.all([
        getAcuityTargets(ctx.db),
        listRooms(ctx.db),
        listUsersByRole(ctx.db, 'Provider'),
      ]);
      return { targets, rooms, clinicians: providers.map((user) => ({ id: user.id, name: displayName(user) })) };
    }),

  transition: providerProcedure
    .input(transitionInput)
    .output(entryOutput)
    .mutation(async ({ ctx, input }) => {
      const by = staffRef(ctx.user);
      const seeing = input.to === 'with_clinician';
      const clinician = seeing && input.clinicianId ? await clinicianRef(ctx, input.clinicianId) : undefined;
      const room = seeing && input.roomId ? await findRoom(ctx.db, input.roomId) : undefined;
      if (seeing && input.roomId && !room) throw new AppError('INVALID_INPUT', 'That room is not in use');
      const { result, lastEventId } = await commitWithEvents(ctx.db, (tx) =>
        transitionEntry(tx, { entryId: input.entryId, expectedVersion: input.expectedVersion, to: input.to, by, clinician, room }),
      );
      ctx.services.announce(lastEventId);
      return { entry: result.entry };
    }),

  triage: providerProcedure
    .input(triageInput)
    .output(entryOutput)
    .mutation(async ({ ctx, input }) => {
      const { result, lastEventId } = await commitWithEvents(ctx.db, (tx) =>
        triageEntry(tx, { ...input, by: staffRef(ctx.user) }),
      );
      ctx.services.announce(lastEventId);
      return { entry: result.entry };
    }),

  undo: providerProcedure
    .input(undoInput)
    .output(entryOutput)
    .mutation(async ({ ctx, input }) => {
      const { result, lastEventId } = await commitWithEvents(ctx.db, (tx) =>
        undoLastTransition(tx, { ...input, by: staffRef(ctx.user) }),
      );
      ctx.services.announce(lastEventId);
      return { entry: result.entry };
    }),

  /** Every queue change after `lastEventId`, once and in order, then live ones. */
  onChange: providerProcedure.input(queueOnChangeInput).subscription(async function* ({ ctx, input, signal }) {
    for await (const event of streamEvents(ctx.db, ctx.services.hub, input?.lastEventId, signal)) {
      const change = toQueueChange(event);
      if (change) yield tracked(event.id.toString(), queueChangeSchema.parse(change));
    }
  }),
});
