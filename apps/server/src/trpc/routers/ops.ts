import { setTimeout as sleep } from 'node:timers/promises';
import {
  discardRegistrationInput,
  eventLogStatusSchema,
  pipelineStatusSchema,
  retriedOutput,
  retryRegistrationInput,
  type PipelineStatus,
} from '@phos/shared';
import { z } from 'zod';
import { headEventId } from '../../events/log.js';
import type { RecordAction } from '../../ops/operations.js';
import { auditRead, auditWrite, noPatient, type AuditRecorder } from '../auditTrail.js';
import { adminProcedure, router } from '../trpc.js';

/** How often the Operations page's stream reads the pipeline; it sends only what changed. */
export const PIPELINE_POLL_MS = 2_000;

/** The action's audit row names the registrations it acted on (ids only; they have no patient yet). */
function recordWith({ audit }: { audit: AuditRecorder }): RecordAction {
  return (tx, registrationIds) =>
    audit.record(tx, { patientIds: [], detail: { registrationIds: registrationIds.join(','), count: registrationIds.length } });
}

/** The status without its clock: two reads a poll apart that differ only in time are the same. */
function sameStatus(a: PipelineStatus | undefined, b: PipelineStatus): boolean {
  return a !== undefined && JSON.stringify({ ...a, at: '' }) === JSON.stringify({ ...b, at: '' });
}

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

  /**
   * The pipeline from commit to push, live: the outbox's backlog, the job queues, the event log's
   * consumers, and the registrations that failed for good with their registrants' names (no
   * patient record exists yet). Recorded once, when the stream opens.
   */
  pipeline: adminProcedure.meta(auditRead(noPatient)).subscription(async function* ({ ctx, signal }) {
    let last: PipelineStatus | undefined;
    while (!signal?.aborted) {
      const status = pipelineStatusSchema.parse(await ctx.services.operations.status());
      if (!sameStatus(last, status)) yield status;
      last = status;
      await sleep(PIPELINE_POLL_MS, undefined, { signal }).catch(() => undefined);
    }
  }),

  retryRegistration: adminProcedure
    .meta(auditWrite())
    .input(retryRegistrationInput)
    .output(retriedOutput)
    .mutation(async ({ ctx, input }) => ({
      retried: await ctx.services.operations.retry(input, recordWith(ctx)),
    })),

  retryAllRegistrations: adminProcedure
    .meta(auditWrite())
    .output(retriedOutput)
    .mutation(async ({ ctx }) => ({ retried: await ctx.services.operations.retry('all', recordWith(ctx)) })),

  /** The reason stays on the registration's outbox row; the audit row names the registration only. */
  discardRegistration: adminProcedure
    .meta(auditWrite())
    .input(discardRegistrationInput)
    .output(z.object({ ok: z.literal(true) }))
    .mutation(async ({ ctx, input }) => {
      await ctx.services.operations.discard(input.registrationId, input.reason, ctx.user.id, recordWith(ctx));
      return { ok: true as const };
    }),
});
