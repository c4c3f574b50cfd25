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
  type QueueEntry,
  type StaffRef,
} from '@phos/shared';
import { z } from 'zod';
import { commitAndAnnounce, headEventId, type LoggedEvent } from '../../events/log.js';
import { streamEvents } from '../../events/stream.js';
import { AppError } from '../../errors.js';
import { displayName, findUserById, listUsersByRole } from '../../identity/users.js';
import { findEntry, listActiveEntries } from '../../queue/entries.js';
import { transitionEntry, triageEntry, undoLastTransition } from '../../queue/transitions.js';
import { findRoom, getAcuityTargets, listRooms } from '../../queue/settings.js';
import { auditRead, auditWrite, idInInput, noPatient, patientsInOutput, type AboutCall } from '../auditTrail.js';
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
    case 'patient.identity_verified':
    case 'careplan.drafted':
    case 'careplan.approved':
    case 'careplan.rejected':
    case 'queue.entry.overdue':
    case 'notifications.created':
      return null;
  }
}

/**
 * Each event's change, validated once however many dashboards stream it. Live events reach every
 * subscription of this process as the same object (the hub emits one page to all), so keying by
 * the object shares the work without any bound to tune; it goes when the page does. Replayed
 * events are read per subscription and miss, which costs what it did before.
 */
const changes = new WeakMap<LoggedEvent, QueueChange | null>();

function queueChangeOf(event: LoggedEvent): QueueChange | null {
  if (changes.has(event)) return changes.get(event) ?? null;
  const change = toQueueChange(event);
  const parsed = change ? queueChangeSchema.parse(change) : null;
  changes.set(event, parsed);
  return parsed;
}

async function clinicianRef(ctx: Context, clinicianId: string): Promise<StaffRef> {
  const clinician = await findUserById(ctx.db, clinicianId);
  if (clinician?.role !== 'Provider') throw new AppError('INVALID_INPUT', 'Choose a Provider as the clinician');
  return { id: clinician.id, name: displayName(clinician) };
}

const entryOutput = z.object({ entry: queueEntrySchema });

/** What a queue move's audit row names: the entry's patient, and the entry in the detail. */
function aboutEntry(entry: QueueEntry) {
  return { patientIds: [entry.patientId], detail: { entryId: entry.id } };
}

/** The same for a refused move, so a patient's trail shows the attempts too. */
const entryInInput: AboutCall = async ({ ctx, input }) => {
  const entryId = idInInput(input, 'entryId');
  const entry = entryId ? await findEntry(ctx.db, entryId) : undefined;
  return entry ? aboutEntry(entry) : { patientIds: [] };
};

export const queueRouter = router({
  list: providerProcedure
    .meta(auditRead(patientsInOutput(({ entries }: { entries: QueueEntry[] }) => entries.map((entry) => entry.patientId))))
    .output(queueListOutput)
    .query(async ({ ctx }) => {
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
    .output(z.object({ targets: acuityTargetsSchema, rooms: z.array(roomSchema), clinicians: z.array(staffRefSchema) }))
    .query(async ({ ctx }) => {
      const [targets, rooms, providers] = await Promise.all([
        getAcuityTargets(ctx.db),
        listRooms(ctx.db),
        listUsersByRole(ctx.db, 'Provider'),
      ]);
      return { targets, rooms, clinicians: providers.map((user) => ({ id: user.id, name: displayName(user) })) };
    }),

  transition: providerProcedure
    .meta(auditWrite(entryInInput))
    .input(transitionInput)
    .output(entryOutput)
    .mutation(async ({ ctx, input }) => {
      const by = staffRef(ctx.user);
      const seeing = input.to === 'with_clinician';
      const clinician = seeing && input.clinicianId ? await clinicianRef(ctx, input.clinicianId) : undefined;
      const room = seeing && input.roomId ? await findRoom(ctx.db, input.roomId) : undefined;
      if (seeing && input.roomId && !room) throw new AppError('INVALID_INPUT', 'That room is not in use');
      const { entry } = await commitAndAnnounce(
        ctx.services,
        async (tx) => {
          const change = await transitionEntry(tx, {
            entryId: input.entryId,
            expectedVersion: input.expectedVersion,
            to: input.to,
            by,
            clinician,
            room,
          });
          await ctx.audit.record(tx, aboutEntry(change.entry));
          return change;
        },
        ctx.eventMeta,
      );
      return { entry };
    }),

  triage: providerProcedure
    .meta(auditWrite(entryInInput))
    .input(triageInput)
    .output(entryOutput)
    .mutation(async ({ ctx, input }) => {
      const { entry } = await commitAndAnnounce(
        ctx.services,
        async (tx) => {
          const change = await triageEntry(tx, { ...input, by: staffRef(ctx.user) });
          await ctx.audit.record(tx, aboutEntry(change.entry));
          return change;
        },
        ctx.eventMeta,
      );
      return { entry };
    }),

  undo: providerProcedure
    .meta(auditWrite(entryInInput))
    .input(undoInput)
    .output(entryOutput)
    .mutation(async ({ ctx, input }) => {
      const { entry } = await commitAndAnnounce(
        ctx.services,
        async (tx) => {
          const change = await undoLastTransition(tx, { ...input, by: staffRef(ctx.user) });
          await ctx.audit.record(tx, aboutEntry(change.entry));
          return change;
        },
        ctx.eventMeta,
      );
      return { entry };
    }),

  /**
   * Every queue change after `lastEventId`, once and in order, then live ones. Audited as the
   * stream opened; the rows it pushes are the list the dashboard read, kept current.
   */
  onChange: providerProcedure
    .meta(auditRead(noPatient))
    .input(queueOnChangeInput)
    .subscription(async function* ({ ctx, input, signal }) {
      for await (const event of streamEvents(ctx.db, ctx.services.hub, input?.lastEventId, signal)) {
        const change = queueChangeOf(event);
        if (change) yield tracked(event.id.toString(), change);
      }
    }),
});
