import { setTimeout as delay } from 'node:timers/promises';
import type { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import type { ErrorReporter } from '../logging.js';
import type { UnreadableEvents } from '../events/unreadable.js';
import { connectBlocking, type RedisTarget } from '../redis/connection.js';
import { createShutdown } from '../shutdown.js';
import { closeFhirExportsWorker, createFhirExportsQueue, scheduleExportSweep, startFhirExportsWorker } from './exports.js';
import { startNotifier, type Notifier } from './notifier.js';
import { closeOverdueWorker, createOverdueQueue, scheduleOverdueSweep, startOverdueWorker } from './overdue.js';
import { closeReconcileWorker, createReconcileQueue, scheduleReconcile, startReconcileWorker } from './reconciler.js';
import { closeRegistrationWorker, startRegistrationWorker, type RegistrationJobData } from './registrations.js';
import { closeSessionsWorker, createSessionsQueue, schedulePurge, startSessionsWorker } from './sessions.js';

/** How long a close without a deadline waits for a worker before letting it go. */
const UNBOUNDED_CLOSE_LIMIT_MS = 15_000;

export interface WorkersOptions {
  redisTarget: RedisTarget;
  /** The process's fail-fast producer connection, for the scheduled queues. */
  producer: Redis;
  /** Where the workers' and their connections' errors are logged, rate limited. */
  errors: ErrorReporter;
  prefix: string;
  /** The workers' database (their own pool on PostgreSQL). */
  db: Db;
  log: Logger;
  /** The registrations queue the relay fills and the reconciler re-delivers to. */
  registrations: Queue<RegistrationJobData>;
  /** Tells every api instance that events up to this id are committed. */
  announce: (lastEventId: bigint) => Promise<void>;
  /** Where skipped events are counted: the process's hub's, so an Admin sees them in one place. */
  unreadable: UnreadableEvents;
  concurrency?: number | undefined;
  jobTimeoutMs?: number | undefined;
  notifierIntervalMs?: number | undefined;
  sessionPurgeIntervalMs?: number | undefined;
  overdueSweepIntervalMs?: number | undefined;
  reconcileIntervalMs?: number | undefined;
  reconcileGraceMs?: number | undefined;
  /** How often a worker deletes expired FHIR exports (5 minutes when unset). */
  exportSweepIntervalMs?: number | undefined;
}

export interface Workers {
  registrations: Worker<RegistrationJobData>;
  /** The scheduled queues these workers own (sessions, overdue, reconcile), for metrics. */
  queues: Queue[];
  notifier: Notifier;
  /** Every BullMQ worker stops taking jobs now; they drain side by side, not one after another. */
  stopTakingJobs(): void;
  /**
   * Stops every worker and closes their connections, in reverse order of start. With `jobsDeadline`,
   * a worker whose jobs are still running when it passes is let go of: its jobs go back to the queue
   * when their lock lapses (another worker's stall check).
   */
  close(jobsDeadline?: Promise<void>): Promise<void>;
}

/** Starts every background worker this process runs: registrations, the notifier, the sessions purge, the overdue sweep and the reconciler. */
export async function startWorkers(options: WorkersOptions): Promise<Workers> {
  const { redisTarget, producer, errors, prefix, db, log } = options;
  const shutdown = createShutdown<[jobsDeadline: Promise<void> | undefined]>(log);
  const bullWorkers: Worker[] = [];

  /** A BullMQ worker needs a blocking connection of its own. */
  const connect = () => {
    const connection = connectBlocking(redisTarget);
    errors.watchConnection(connection, 'worker connection'); // reconnects by itself; the workers report failed jobs
    shutdown.add('worker connection', () => connection.disconnect());
    return connection;
  };
  const track = <W extends Worker>(worker: W, closeIt: (worker: W) => Promise<void>): W => {
    bullWorkers.push(worker);
    shutdown.add(`${worker.name} worker`, async (jobsDeadline) => {
      const closing = closeIt(worker);
      // Without a deadline a close still ends: a worker whose blocking connection is parked
      // reconnecting after a Redis restart never finishes closing (taskforcesh/bullmq#4656).
      const deadline = jobsDeadline ?? delay(UNBOUNDED_CLOSE_LIMIT_MS, undefined, { ref: false });
      const inTime = await Promise.race([closing.then(() => true), deadline.then(() => false)]);
      if (!inTime)
        log.warn(
          { worker: worker.name },
          jobsDeadline
            ? 'jobs still running at the shutdown deadline; they go back to the queue when their lock lapses'
            : `worker not closed within ${UNBOUNDED_CLOSE_LIMIT_MS} ms; let go (its jobs go back to the queue when their lock lapses)`,
        );
    });
    return worker;
  };
  const close = (jobsDeadline?: Promise<void>) => shutdown.run(jobsDeadline);

  try {
    const registrations = track(
      startRegistrationWorker({
        connection: connect(),
        prefix,
        concurrency: options.concurrency,
        jobTimeoutMs: options.jobTimeoutMs,
        errors,
        deps: { db, log, announce: options.announce },
      }),
      closeRegistrationWorker,
    );

    const notifier = await startNotifier({
      db,
      subscriber: connect(),
      prefix,
      log,
      announce: options.announce,
      intervalMs: options.notifierIntervalMs,
      unreadable: options.unreadable,
    });
    shutdown.add('notifier', () => notifier.stop());

    const sessionsQueue = createSessionsQueue(producer, prefix);
    errors.watch(sessionsQueue, 'sessions queue');
    shutdown.add('sessions queue', () => sessionsQueue.close());
    await schedulePurge(sessionsQueue, options.sessionPurgeIntervalMs ?? 5 * 60_000);
    track(startSessionsWorker({ connection: connect(), prefix, errors, deps: { db, log } }), closeSessionsWorker);

    const overdueQueue = createOverdueQueue(producer, prefix);
    errors.watch(overdueQueue, 'overdue queue');
    shutdown.add('overdue queue', () => overdueQueue.close());
    await scheduleOverdueSweep(overdueQueue, options.overdueSweepIntervalMs ?? 15_000);
    track(startOverdueWorker({ connection: connect(), prefix, errors, deps: { db, log, announce: options.announce } }), closeOverdueWorker);

    const reconcileQueue = createReconcileQueue(producer, prefix);
    errors.watch(reconcileQueue, 'reconcile queue');
    shutdown.add('reconcile queue', () => reconcileQueue.close());
    await scheduleReconcile(reconcileQueue, options.reconcileIntervalMs ?? 30_000);
    track(
      startReconcileWorker({
        connection: connect(),
        prefix,
        errors,
        deps: { db, log, registrations: options.registrations, graceMs: options.reconcileGraceMs ?? 60_000 },
      }),
      closeReconcileWorker,
    );

    const exportsQueue = createFhirExportsQueue(producer, prefix);
    errors.watch(exportsQueue, 'fhir exports queue');
    shutdown.add('fhir exports queue', () => exportsQueue.close());
    await scheduleExportSweep(exportsQueue, options.exportSweepIntervalMs ?? 5 * 60_000);
    track(
      startFhirExportsWorker({ connection: connect(), prefix, errors, queue: exportsQueue, deps: { db, log } }),
      closeFhirExportsWorker,
    );

    return {
      registrations,
      queues: [sessionsQueue, overdueQueue, reconcileQueue, exportsQueue],
      notifier,
      stopTakingJobs() {
        for (const worker of bullWorkers) void worker.close().catch(() => undefined);
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
