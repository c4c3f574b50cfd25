import { Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { commitAndAnnounce } from '../events/log.js';
import { createErrorReporter, type ErrorReporter } from '../logging.js';
import { flagOverdueEntries } from '../queue/overdue.js';
import { getAcuityTargets } from '../queue/settings.js';
import { scheduleEvery } from './schedule.js';

export const OVERDUE_QUEUE = 'overdue';
const SWEEP_JOB = 'queue.overdue-sweep';
/** One scheduler id for every worker process: upserting it twice still makes one job per interval. */
export const OVERDUE_SCHEDULER = 'overdue-sweep';

export interface OverdueDeps {
  db: Db;
  /** Tells every api instance that events up to this id are committed. */
  announce: (lastEventId: bigint) => Promise<void>;
  log: Logger;
}

export function createOverdueQueue(connection: Redis, prefix: string): Queue {
  return new Queue(OVERDUE_QUEUE, { connection, prefix });
}

/** Sweeps for patients past their target wait every `everyMs`, across all worker processes together. */
export async function scheduleOverdueSweep(queue: Queue, everyMs: number): Promise<void> {
  await scheduleEvery(queue, OVERDUE_SCHEDULER, SWEEP_JOB, everyMs);
}

/**
 * Alerts on the patients past the target wait for their acuity, each once however many sweeps
 * run; returns how many it alerted on.
 */
export async function sweepOverdue(deps: OverdueDeps): Promise<number> {
  const { events } = await commitAndAnnounce(
    {
      db: deps.db,
      // The events are committed: the hubs' safety pass picks them up without the message.
      announce: (lastEventId) =>
        deps.announce(lastEventId).catch((error: unknown) => deps.log.warn({ err: error }, 'could not announce overdue alerts')),
    },
    async (tx) => ({ events: await flagOverdueEntries(tx, await getAcuityTargets(tx)) }),
  );
  if (events.length > 0) deps.log.info({ alerted: events.length }, 'patients past their target wait');
  return events.length;
}

/** Runs the job named `name`; returns how many patients it alerted on. */
export async function processOverdueJob(deps: OverdueDeps, name: string): Promise<number> {
  if (name !== SWEEP_JOB) throw new UnrecoverableError(`no handler for job ${name}`);
  return sweepOverdue(deps);
}

export function startOverdueWorker(options: {
  connection: Redis;
  prefix: string;
  deps: OverdueDeps;
  /** The process's error reporter; one of its own when unset. */
  errors?: ErrorReporter | undefined;
}): Worker {
  const { connection, prefix, deps } = options;
  const worker = new Worker(OVERDUE_QUEUE, (job) => processOverdueJob(deps, job.name), { connection, prefix });
  const errors = options.errors ?? createErrorReporter(deps.log);
  // The next sweep runs in the next interval whatever this one did; one line per kind a minute is plenty.
  worker.on('failed', (_job, error) => errors.report('overdue sweep failed; the next one runs on schedule', error));
  errors.watch(worker, 'overdue worker');
  return worker;
}

export async function closeOverdueWorker(worker: Worker): Promise<void> {
  await worker.close();
}
