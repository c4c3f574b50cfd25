import type { Job, Queue } from 'bullmq';
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { FAILED_SHOWN, type FailedRegistration, type PipelineStatus } from '@phos/shared';
import type { Db } from '../db/client.js';
import { AppError } from '../errors.js';
import { registrationJobData, type AttemptRecord, type RegistrationJobData } from '../jobs/registrations.js';
import { outbox } from '../outbox/schema.js';
import { readConsumerLag, readOutboxBacklog, readQueueHealth } from './pipeline.js';

/** Writes the action's one audit row in the action's transaction, naming the registrations it acts on. */
export type RecordAction = (tx: Db, registrationIds: readonly string[]) => Promise<void>;

/** What an Admin sees of the pipeline and does about registrations whose job failed for good. */
export interface Operations {
  status(): Promise<PipelineStatus>;
  /**
   * Retries failed registrations (one, or every one) with all their attempts, their job data
   * rebuilt from the outbox row. Returns how many it retried; NOT_FAILED when the one named is
   * not failed any more.
   */
  retry(which: { registrationId: string } | 'all', record: RecordAction): Promise<number>;
  /** Gives up on one failed registration, for a reason kept on its outbox row: no patient comes of it. */
  discard(registrationId: string, reason: string, by: string, record: RecordAction): Promise<void>;
}

export interface OperationsDeps {
  db: Db;
  registrations: Queue<RegistrationJobData>;
  /** Every queue this process can see, for the pipeline's counts (the registrations queue included). */
  queues: readonly Queue[];
  log: Logger;
}

/** A registration's outbox row, as the Operations page needs it: kind, name, and whether an Admin discarded it. */
async function registrationRows(db: Db, ids: readonly string[]) {
  if (ids.length === 0) return new Map<string, never>();
  const rows = await db
    .select({
      id: outbox.id,
      type: outbox.type,
      requestId: outbox.requestId,
      createdAt: outbox.createdAt,
      discardedAt: outbox.discardedAt,
      firstName: sql<string | null>`${outbox.payload}->>'firstName'`,
      lastName: sql<string | null>`${outbox.payload}->>'lastName'`,
    })
    .from(outbox)
    .where(inArray(outbox.id, [...ids]));
  return new Map(rows.map((row) => [row.id, row]));
}

function parseAttempt(line: string | undefined): AttemptRecord | null {
  if (line === undefined) return null;
  try {
    return JSON.parse(line) as AttemptRecord;
  } catch {
    return null;
  }
}

function kindOf(jobName: string): FailedRegistration['kind'] {
  if (jobName === 'walk_in.registered') return 'walk_in';
  return jobName === 'patient.submitted' ? 'fhir' : 'self';
}

function isoOrNull(epochMs: number | undefined): string | null {
  return epochMs === undefined ? null : new Date(epochMs).toISOString();
}

export function createOperations({ db, registrations, queues, log }: OperationsDeps): Operations {
  async function failedJobs(limit: number): Promise<Job<RegistrationJobData>[]> {
    const jobs = await registrations.getFailed(0, limit - 1);
    return jobs.filter((job) => job.id !== undefined);
  }

  async function failedRegistrations(): Promise<FailedRegistration[]> {
    const jobs = await failedJobs(FAILED_SHOWN);
    const rows = await registrationRows(
      db,
      jobs.map((job) => job.id ?? ''),
    );
    const firstLogs = await Promise.all(jobs.map((job) => registrations.getJobLogs(job.id ?? '', 0, 0, true)));
    return jobs
      .map((job, index): FailedRegistration => {
        const row = rows.get(job.id ?? '');
        const first = parseAttempt(firstLogs[index]?.logs[0]);
        return {
          registrationId: job.id ?? '',
          kind: kindOf(job.name),
          patientName: row ? `${row.firstName ?? ''} ${row.lastName ?? ''}`.trim() : '(no registration of this id)',
          error: job.failedReason,
          attempts: job.attemptsMade,
          registeredAt: new Date(row?.createdAt ?? job.timestamp).toISOString(),
          firstAttemptAt: first?.at ?? isoOrNull(job.finishedOn),
          lastAttemptAt: isoOrNull(job.finishedOn),
        };
      })
      .sort((a, b) => a.registeredAt.localeCompare(b.registeredAt));
  }

  /** The job's data from its outbox row (mending data that broke in Redis), then a new round of attempts. */
  async function retryJob(job: Job<RegistrationJobData>, row: { id: string; requestId: string | null } | undefined) {
    if (row) await job.updateData(registrationJobData(row));
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
  }

  async function failedJob(registrationId: string): Promise<Job<RegistrationJobData>> {
    const job = await registrations.getJob(registrationId);
    // Gone (discarded, or retried and done) or running again: either way no longer the Admin's to act on.
    if (!job || !(await job.isFailed())) throw new AppError('NOT_FAILED');
    return job;
  }

  return {
    async status() {
      const [backlog, health, lag, failed, failedTotal] = await Promise.all([
        readOutboxBacklog(db),
        readQueueHealth(queues),
        readConsumerLag(db),
        failedRegistrations(),
        registrations.getFailedCount(),
      ]);
      return {
        at: new Date().toISOString(),
        outbox: backlog,
        queues: health,
        eventLog: { head: lag.head.toString(), consumers: lag.consumers },
        failedRegistrations: failed,
        failedTotal,
      };
    },

    async retry(which, record) {
      const jobs = which === 'all' ? await failedJobs(Number.MAX_SAFE_INTEGER) : [await failedJob(which.registrationId)];
      const ids = jobs.map((job) => job.id ?? '');
      const rows = await registrationRows(db, ids);
      const discarded = ids.filter((id) => rows.get(id)?.discardedAt);
      if (which !== 'all' && discarded.length > 0) throw new AppError('NOT_FAILED');
      const chosen = jobs.filter((job) => !discarded.includes(job.id ?? ''));
      let retried = 0;
      await db.transaction(async (tx) => {
        await record(
          tx,
          chosen.map((job) => job.id ?? ''),
        );
        for (const job of chosen) {
          try {
            await retryJob(job, rows.get(job.id ?? ''));
            retried += 1;
          } catch (error) {
            // Retried or removed meanwhile (another Admin, another tab): one asked for by name says so.
            if (which !== 'all') throw new AppError('NOT_FAILED');
            log.warn({ err: error, registrationId: job.id }, 'a failed registration could not be retried; skipped');
          }
        }
      });
      log.info({ registrationIds: chosen.map((job) => job.id), retried }, 'failed registrations retried');
      return retried;
    },

    async discard(registrationId, reason, by, record) {
      const job = await failedJob(registrationId);
      await db.transaction(async (tx) => {
        await record(tx, [registrationId]);
        const marked = await tx
          .update(outbox)
          .set({ discardedAt: new Date(), discardedBy: by, discardReason: reason })
          .where(and(eq(outbox.id, registrationId), isNull(outbox.discardedAt)))
          .returning({ id: outbox.id });
        const [row] = await tx.select({ id: outbox.id }).from(outbox).where(eq(outbox.id, registrationId));
        if (row && marked.length === 0) throw new AppError('NOT_FAILED');
        // Removed last: should it fail, the mark rolls back and the job stays in the list.
        await job.remove();
      });
      log.info({ registrationId, by }, 'failed registration discarded');
    },
  };
}
