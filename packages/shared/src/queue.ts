import { z } from 'zod';
import { eventIdSchema, uuidSchema } from './fields.js';

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

export const queueEntrySchema = z.object({
  id: uuidSchema,
  patientId: uuidSchema,
  firstName: z.string(),
  lastName: z.string(),
  dateOfBirth: z.string(),
  status: queueStatusSchema,
  arrivedAt: z.iso.datetime({ offset: true }),
});
export type QueueEntry = z.infer<typeof queueEntrySchema>;

export const queueListOutput = z.object({
  entries: z.array(queueEntrySchema),
  /** The event the list is current up to: subscribe from here. */
  lastEventId: eventIdSchema,
});
export type QueueList = z.infer<typeof queueListOutput>;

export const queueOnChangeInput = z
  .object({ lastEventId: eventIdSchema.nullish() })
  .optional();

export const queueChangeSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('queue.entry.added'), entry: queueEntrySchema }),
]);
export type QueueChange = z.infer<typeof queueChangeSchema>;
