import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { and, asc, eq, gt, inArray, isNull, lt, notExists, or, sql } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { activeStatuses } from '@phos/shared';
import type { Db } from '../db/client.js';
import { createErrorReporter, type ErrorReporter } from '../logging.js';
import { outbox } from '../outbox/schema.js';
import { patients } from '../patients/schema.js';
import { queueEntries } from '../queue/schema.js';
import { registrationJobData, registrationTypes, type RegistrationJobData } from './registrations.js';
import { scheduleEvery } from './schedule.js';

export const RECONCILE_QUEUE = 'registrations-reconcile';
const RECONCILE_JOB = 'registrations.reconcile';
/** One scheduler id for every worker process: upserting it twice still makes one job per interval. */
export const RECONCILE_SCHEDULER = 'reconcile-registrations';

/**
 * How far back a sent registration is looked at. Below the 24 h that completed registration jobs
 * are kept: a walk-in that found its patient already queued leaves no entry of its own, and only
 * its completed job says it was handled; re-delivered after that job is gone, it would queue the
 * patient a second time.
 */
const LOOK_BACK_MS = 12 * 3_600_000;

/** Job states in which BullMQ still owns the registration: it will run, or it ran to the end. */
const liveStates = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed']);

export interface ReconcileDeps {
  db: Db;
  registrations: Queue<RegistrationJobData>;
  log: Logger;
  /** How long after the relay sent it a registration may go without its result before it counts as stuck. */
  graceMs: number;
}

export function createReconcileQueue(connection: Redis, prefix: string): Queue {
  return new Queue(RECONCILE_QUEUE, { connection, prefix });
}

/** Runs the reconciler every `everyMs`, across all worker processes together. */
export async function scheduleReconcile(queue: Queue, everyMs: number): Promise<void> {
  await scheduleEvery(queue, RECONCILE_SCHEDULER, RECONCILE_JOB, everyMs);
}

/**
 * Registrations the relay sent that have not had their result: a self-registered Patient with no
 * patient, a FHIR submission with no patient, a walk-in with no patient and no queue entry of its
 * own (or, naming an existing patient, with that patient not in the queue).
 */
async function unfinishedRegistrations(db: Db, sentBefore: Date, limit: number) {
  const hasOwnEntry = db
    .select({ one: sql`1` })
    .from(queueEntries)
    .where(eq(queueEntries.registrationId, outbox.id));
  const userPatient = db
    .select({ one: sql`1` })
    .from(patients)
    .where(eq(patients.userId, sql`(${outbox.payload}->>'userId')::uuid`));
  const walkInPatient = db
    .select({ one: sql`1` })
    .from(patients)
    .where(eq(patients.registrationId, outbox.id));
  const existingQueued = db
    .select({ one: sql`1` })
    .from(queueEntries)
    .where(
      and(
        eq(queueEntries.patientId, sql`(${outbox.payload}->>'existingPatientId')::uuid`),
        inArray(queueEntries.status, [...activeStatuses]),
      ),
    );
  return db
    .select({ id: outbox.id, type: outbox.type, requestId: outbox.requestId, createdAt: outbox.createdAt })
    .from(outbox)
    .where(
      and(
        inArray(outbox.type, [...registrationTypes]),
        isNull(outbox.discardedAt),
        lt(outbox.sentAt, sentBefore),
        gt(outbox.sentAt, new Date(sentBefore.getTime() - LOOK_BACK_MS)),
        notExists(hasOwnEntry),
        or(
          and(eq(outbox.type, 'user.registered'), sql`${outbox.payload}->>'role' = 'Patient'`, notExists(userPatient)),
          and(eq(outbox.type, 'patient.submitted'), notExists(walkInPatient)),
          and(
            eq(outbox.type, 'walk_in.registered'),
            notExists(walkInPatient),
            or(isNull(sql`${outbox.payload}->>'existingPatientId'`), notExists(existingQueued)),
          ),
        ),
      ),
    )
    .orderBy(asc(outbox.sentAt))
    .limit(limit);
}

/** The job's data names the row's registration and request, as the relay wrote it (a trace context aside). */
function carriesRow(data: unknown, expected: RegistrationJobData): boolean {
  if (typeof data !== 'object' || data === null) return false;
  const { registrationId, requestId } = data as Partial<Record<keyof RegistrationJobData, unknown>>;
  return registrationId === expected.registrationId && requestId === expected.requestId;
}

/**
 * Re-delivers registrations that were sent but whose delivery broke: the job is gone (Redis lost
 * it, or it was removed) or failed with data that is not its row's. The outbox row is the truth,
 * the job only a delivery of it, so the new job is built from the row. A job that failed for good
 * with its right data failed on the registration itself: retrying it on a timer would fail again,
 * so it waits on the Operations page for an Admin, who fixes the cause, then retries or discards it.
 * Returns how many it re-delivered.
 */
export async function reconcileRegistrations(deps: ReconcileDeps, batchSize = 100): Promise<number> {
  const rows = await unfinishedRegistrations(deps.db, new Date(Date.now() - deps.graceMs), batchSize);
  let redelivered = 0;
  for (const row of rows) {
    const state = await deps.registrations.getJobState(row.id);
    if (liveStates.has(state)) continue;
    const data = registrationJobData(row);
    if (state === 'failed') {
      const job = await deps.registrations.getJob(row.id);
      if (job && carriesRow(job.data, data)) continue;
      // Its id is the registration's; it goes, so the new job starts with all its attempts.
      await deps.registrations.remove(row.id);
    }
    await deps.registrations.add(row.type, data, { jobId: row.id, timestamp: row.createdAt.getTime() });
    deps.log.warn(
      { registrationId: row.id, requestId: row.requestId, job: row.type, previousState: state },
      'stuck registration re-delivered',
    );
    redelivered += 1;
  }
  return redelivered;
}

export async function processReconcileJob(deps: ReconcileDeps, name: string): Promise<number> {
  if (name !== RECONCILE_JOB) throw new UnrecoverableError(`no handler for job ${name}`);
  return reconcileRegistrations(deps);
}

export function startReconcileWorker(options: {
  connection: Redis;
  prefix: string;
  deps: ReconcileDeps;
  /** The process's error reporter; one of its own when unset. */
  errors?: ErrorReporter | undefined;
}): Worker {
  const { connection, prefix, deps } = options;
  const worker = new Worker(RECONCILE_QUEUE, (job) => processReconcileJob(deps, job.name), { connection, prefix });
  worker.on('failed', (job, error) => deps.log.warn({ jobId: job?.id, job: job?.name, err: error }, 'registration reconcile pass failed'));
  (options.errors ?? createErrorReporter(deps.log)).watch(worker, 'reconcile worker');
  return worker;
}

export async function closeReconcileWorker(worker: Worker): Promise<void> {
  await worker.close();
}
