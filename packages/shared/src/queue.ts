import { z } from 'zod';
import { eventIdSchema, freeText, singleLineText, uuidSchema } from './fields.js';

export const queueStatuses = ['waiting', 'in_triage', 'with_clinician', 'done', 'left'] as const;
export const queueStatusSchema = z.enum(queueStatuses);
export type QueueStatus = z.infer<typeof queueStatusSchema>;

export const queueStatusLabels: Record<QueueStatus, string> = {
  waiting: 'Waiting',
  in_triage: 'In triage',
  with_clinician: 'With clinician',
  done: 'Done',
  left: 'Left without being seen',
};

/**
 * The one graph of allowed moves; anything else is refused. `done` and `left` are final, though
 * an undo can still step back out of them.
 */
export const queueTransitions = {
  waiting: ['in_triage', 'with_clinician', 'left'],
  in_triage: ['waiting', 'with_clinician', 'left'],
  with_clinician: ['in_triage', 'done'],
  done: [],
  left: [],
} as const satisfies Record<QueueStatus, readonly QueueStatus[]>;

export function canTransition(from: QueueStatus, to: QueueStatus): boolean {
  return (queueTransitions[from] as readonly QueueStatus[]).includes(to);
}

/** Statuses of patients still in the clinic. */
export const activeStatuses = ['waiting', 'in_triage', 'with_clinician'] as const satisfies readonly QueueStatus[];

/** Emergency Severity Index: 1 is the most acute. */
export const acuityLevels = [1, 2, 3, 4, 5] as const;
export const acuitySchema = z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4), z.literal(5)]);
export type Acuity = z.infer<typeof acuitySchema>;

/** Minutes within which a patient of each level should be seen. */
export const defaultAcuityTargets: Record<Acuity, number> = { 1: 0, 2: 10, 3: 30, 4: 60, 5: 120 };

export const staffRefSchema = z.object({ id: uuidSchema, name: z.string() });
export type StaffRef = z.infer<typeof staffRefSchema>;

export const roomSchema = z.object({ id: uuidSchema, name: z.string() });
export type Room = z.infer<typeof roomSchema>;

export const createRoomInput = z.object({ name: singleLineText(60) });

export const queueEntrySchema = z.object({
  id: uuidSchema,
  patientId: uuidSchema,
  firstName: z.string(),
  lastName: z.string(),
  dateOfBirth: z.string(),
  status: queueStatusSchema,
  arrivedAt: z.iso.datetime({ offset: true }),
  /** When the entry last changed status. */
  statusChangedAt: z.iso.datetime({ offset: true }),
  acuity: acuitySchema.nullable(),
  clinician: staffRefSchema.nullable(),
  room: roomSchema.nullable(),
  /** Staff should review: the registration looked like an existing patient. */
  possibleDuplicate: z.boolean(),
  /** Bumped on every change; a write naming an older version is refused as a conflict. */
  version: z.number().int().positive(),
});
export type QueueEntry = z.infer<typeof queueEntrySchema>;

export const queueListOutput = z.object({
  entries: z.array(queueEntrySchema),
  /** The event the list is current up to: subscribe from here. */
  lastEventId: eventIdSchema,
});
export type QueueList = z.infer<typeof queueListOutput>;

export const queueOnChangeInput = z.object({ lastEventId: eventIdSchema.nullish() }).optional();

/** What happened to an entry, for the dashboards' "what changed" and the journey. */
export const queueEntryChangeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('transition'), from: queueStatusSchema, to: queueStatusSchema }),
  z.object({ kind: z.literal('undo'), from: queueStatusSchema, to: queueStatusSchema }),
  z.object({ kind: z.literal('triage'), acuity: acuitySchema }),
  /** Staff reviewed a possible duplicate and found a different person. */
  z.object({ kind: z.literal('duplicate_dismissed') }),
]);
export type QueueEntryChange = z.infer<typeof queueEntryChangeSchema>;

export const queueChangeSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('queue.entry.added'), entry: queueEntrySchema }),
  z.object({
    type: z.literal('queue.entry.updated'),
    entry: queueEntrySchema,
    change: queueEntryChangeSchema,
    by: staffRefSchema,
  }),
]);
export type QueueChange = z.infer<typeof queueChangeSchema>;

const versioned = { entryId: uuidSchema, expectedVersion: z.number().int().positive() };

export const transitionInput = z.object({
  ...versioned,
  to: queueStatusSchema,
  /** With `with_clinician`: who sees the patient (defaults to the caller) and where. */
  clinicianId: uuidSchema.optional(),
  roomId: uuidSchema.nullish(),
});
export type TransitionInput = z.infer<typeof transitionInput>;

export const triageInput = z.object({
  ...versioned,
  acuity: acuitySchema,
  note: freeText(2000).optional(),
});
export type TriageInput = z.infer<typeof triageInput>;

export const undoInput = z.object(versioned);

export const transitionRecordSchema = z.object({
  id: uuidSchema,
  kind: z.enum(['transition', 'undo']),
  from: queueStatusSchema,
  to: queueStatusSchema,
  by: staffRefSchema,
  at: z.iso.datetime({ offset: true }),
  clinician: staffRefSchema.nullable(),
  room: roomSchema.nullable(),
  /** An undone transition stays in the history, marked. */
  undoneAt: z.iso.datetime({ offset: true }).nullable(),
});
export type TransitionRecord = z.infer<typeof transitionRecordSchema>;

export const triageRecordSchema = z.object({
  id: uuidSchema,
  acuity: acuitySchema,
  note: z.string().nullable(),
  by: staffRefSchema,
  at: z.iso.datetime({ offset: true }),
});
export type TriageRecord = z.infer<typeof triageRecordSchema>;

export const acuityTargetsSchema = z.object({
  1: z.number().int().min(0).max(1440),
  2: z.number().int().min(0).max(1440),
  3: z.number().int().min(0).max(1440),
  4: z.number().int().min(0).max(1440),
  5: z.number().int().min(0).max(1440),
});
export type AcuityTargets = z.infer<typeof acuityTargetsSchema>;
