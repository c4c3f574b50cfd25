import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { deleteExpiredExports, markExportFailed, pendingExportsOlderThan, runExport, type ExportOutcome } from '../fhir/export.js';
import { createErrorReporter, errorCode, type ErrorReporter } from '../logging.js';
import { scheduleEvery } from './schedule.js';

export const FHIR_EXPORTS_QUEUE = 'fhir-exports';
const EXPORT_JOB = 'fhir.export';
const SWEEP_JOB = 'fhir.export-sweep';
/** One scheduler id for every worker process: upserting it twice still makes one job per interval. */
export const EXPORT_SWEEP_SCHEDULER = 'fhir-export-sweep';
const ATTEMPTS = 3;
/** A pending export older than this has likely lost its job (a crash between the insert and the enqueue). */
const REQUEUE_AFTER_MS = 60_000;

/** Ids only: BullMQ keeps job data in clear text in Redis. */
export interface FhirExportJobData {
  exportId: string;
}

export interface FhirExportDeps {
  db: Db;
  log: Logger;
  /** Resources per NDJSON file (`DEFAULT_RESOURCES_PER_FILE` when unset). */
  resourcesPerFile?: number | undefined;
}

export function createFhirExportsQueue(connection: Redis, prefix: string): Queue<FhirExportJobData> {
  return new Queue<FhirExportJobData>(FHIR_EXPORTS_QUEUE, { connection, prefix });
}

/** Queues an export's job, once per export (its id is the job id). */
export async function enqueueFhirExport(queue: Queue<FhirExportJobData>, exportId: string): Promise<void> {
  await queue.add(
    EXPORT_JOB,
    { exportId },
    {
      jobId: exportId,
      attempts: ATTEMPTS,
      backoff: { type: 'exponential', delay: 5_000 },
      removeOnComplete: { count: 100 },
      removeOnFail: { count: 100 },
    },
  );
}

/** Deletes expired exports (and re-queues lost ones) every `everyMs`, across all worker processes together. */
export async function scheduleExportSweep(queue: Queue<FhirExportJobData>, everyMs: number): Promise<void> {
  await scheduleEvery(queue, EXPORT_SWEEP_SCHEDULER, SWEEP_JOB, everyMs);
}

/** Deletes expired exports, files and all, and re-queues pending ones whose job went missing; returns how many it deleted. */
export async function sweepExports(deps: FhirExportDeps, queue: Queue<FhirExportJobData>): Promise<number> {
  const deleted = await deleteExpiredExports(deps.db);
  if (deleted > 0) deps.log.info({ deleted }, 'expired FHIR exports deleted');
  // The job id is the export id: a job still waiting or running is not added twice.
  for (const exportId of await pendingExportsOlderThan(deps.db, new Date(Date.now() - REQUEUE_AFTER_MS))) {
    await enqueueFhirExport(queue, exportId);
  }
  return deleted;
}

/**
 * Runs one export job. The last attempt that fails marks the export failed, so its status says
 * so; earlier ones leave it to the retry.
 */
export async function processFhirExportJob(
  deps: FhirExportDeps,
  job: Pick<Job<FhirExportJobData>, 'name' | 'data' | 'attemptsMade' | 'opts'>,
): Promise<ExportOutcome> {
  if (job.name !== EXPORT_JOB) throw new UnrecoverableError(`no handler for job ${job.name}`);
  const { exportId } = job.data;
  try {
    const outcome = await runExport(deps.db, exportId, { resourcesPerFile: deps.resourcesPerFile });
    deps.log.info({ exportId, outcome }, 'FHIR export finished');
    return outcome;
  } catch (error) {
    if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
      await markExportFailed(deps.db, exportId, 'The export failed; start a new one').catch((markError: unknown) => {
        deps.log.error({ code: errorCode(markError), exportId }, 'could not mark a FHIR export failed');
      });
    }
    // BullMQ keeps the failure's message in Redis, and a failed query's message holds its parameters (NDJSON).
    throw new Error(`FHIR export ${exportId} failed: ${errorCode(error)}`, { cause: error });
  }
}

export function startFhirExportsWorker(options: {
  connection: Redis;
  prefix: string;
  deps: FhirExportDeps;
  /** The queue the sweep re-queues lost exports on. */
  queue: Queue<FhirExportJobData>;
  /** The process's error reporter; one of its own when unset. */
  errors?: ErrorReporter | undefined;
}): Worker<FhirExportJobData> {
  const { connection, prefix, deps, queue } = options;
  const worker = new Worker<FhirExportJobData>(
    FHIR_EXPORTS_QUEUE,
    async (job) => (job.name === SWEEP_JOB ? sweepExports(deps, queue) : processFhirExportJob(deps, job)),
    // One export at a time per worker process: each holds a database snapshot while it writes.
    { connection, prefix, concurrency: 1 },
  );
  worker.on('failed', (job, error) =>
    deps.log.warn({ jobId: job?.id, job: job?.name, attemptsMade: job?.attemptsMade, reason: error.message }, 'FHIR export job failed'),
  );
  (options.errors ?? createErrorReporter(deps.log)).watch(worker, 'fhir exports worker');
  return worker;
}

export async function closeFhirExportsWorker(worker: Worker<FhirExportJobData>): Promise<void> {
  await worker.close();
}
