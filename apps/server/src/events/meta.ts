import { z } from 'zod';
import { TRACEPARENT_PATTERN } from '../trace-context.js';

/**
 * Where an event came from, kept beside it in the log: ids only, never health data. The request
 * id follows one registration from the click to the push (the outbox row, the job, the worker's
 * log, the event); a reader that finds more or less than it knows reads what it can.
 */
export const eventMetaSchema = z.object({
  requestId: z.string().max(200).optional(),
  /** The event this one was made from, by a consumer of the log (the notifier). */
  causedBy: z.string().max(20).optional(),
  /** The span that appended it (tracing on): the hub's push of the event continues that trace. */
  traceparent: z.string().regex(TRACEPARENT_PATTERN).optional(),
});
export type EventMeta = z.infer<typeof eventMetaSchema>;

/** Reads stored metadata; anything it cannot read is left out, never an error. */
export function readEventMeta(stored: unknown): EventMeta {
  const parsed = eventMetaSchema.safeParse(stored);
  return parsed.success ? parsed.data : {};
}
