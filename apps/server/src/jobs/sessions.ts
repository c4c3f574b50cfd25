import { Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { createErrorReporter, type ErrorReporter } from '../logging.js';
import { deleteExpiredSessions } from '../identity/sessions.js';
import { scheduleEvery } from './schedule.js';

export const SESSIONS_QUEUE = 'sessions';
const PURGE_JOB = 'sessions.purge';
/** One scheduler id for every worker process: upserting it twice still makes one job per interval. */
export const PURGE_SCHEDULER = 'purge-expired-sessions';

export interface SessionsDeps {
  db: Db;
  log: Logger;
}

export function createSessionsQueue(connection: Redis, prefix: string): Queue {
  return new Queue(SESSIONS_QUEUE, { connection, prefix });
}

/** Purges expired sessions every `everyMs`, across all worker processes together. */
export async function schedulePurge(queue: Queue, everyMs: number): Promise<void> {
  await scheduleEvery(queue, PURGE_SCHEDULER, PURGE_JOB, everyMs);
}

/** Runs the job named `name`; returns how many sessions it removed. */
export async function processSessionsJob(deps: SessionsDeps, name: string): Promise<number> {
  if (name !== PURGE_JOB) throw new UnrecoverableError(`no handler for job ${name}`);
  const purged = await deleteExpiredSessions(deps.db);
  if (purged > 0) deps.log.info({ purged }, 'expired sessions purged');
  return purged;
}

export function startSessionsWorker(options: {
  connection: Redis;
  prefix: string;
  deps: SessionsDeps;
  /** The process's error reporter; one of its own when unset. */
  errors?: ErrorReporter | undefined;
}): Worker {
  const { connection, prefix, deps } = options;
  const worker = new Worker(SESSIONS_QUEUE, (job) => processSessionsJob(deps, job.name), { connection, prefix });
  worker.on('failed', (job, error) => deps.log.warn({ jobId: job?.id, job: job?.name, err: error }, 'session purge failed'));
  (options.errors ?? createErrorReporter(deps.log)).watch(worker, 'sessions worker');
  return worker;
}

export async function closeSessionsWorker(worker: Worker): Promise<void> {
  await worker.close();
}
