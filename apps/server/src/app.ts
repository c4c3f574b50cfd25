import path from 'node:path';
import type { Queue, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { connectPglite, connectPostgres, type Database, type DatabaseTimeouts } from './db/client.js';
import { createEventHub, publishCommitted, type EventHub } from './events/hub.js';
import { createVisitBoard } from './queue/board.js';
import { createRelay, type Relay } from './outbox/relay.js';
import { ensureFirstAdmin } from './identity/bootstrap.js';
import { closePasswordScorer } from './identity/passwordPolicy.js';
import { createSignInGuard, type SignInLimits } from './identity/throttle.js';
import { startWorkers, type Workers } from './jobs/index.js';
import { createFhirExportsQueue, enqueueFhirExport } from './jobs/exports.js';
import type { Notifier } from './jobs/notifier.js';
import { createRegistrationsQueue, deliverRegistrations, type RegistrationJobData } from './jobs/registrations.js';
import { defaultSessionPolicy, type SessionPolicy } from './identity/sessions.js';
import { connectBlocking, connectBounded, connectFailFast, type RedisTarget } from './redis/connection.js';
import { startEmbeddedRedis } from './redis/embedded.js';
import { createErrorReporter, errorCode } from './logging.js';
import { createMetrics, type Metrics } from './ops/metrics.js';
import { createOperations } from './ops/operations.js';
import type { Services } from './services.js';
import { createShutdown } from './shutdown.js';
import { createStreamRegistry, publishRevoked } from './trpc/streams.js';

export interface PhosConfig {
  /** A PostgreSQL URL, or PGlite in `dataDir` (in memory when undefined). */
  database: { url: string } | { pgliteDir: string | undefined };
  /** A Redis to use, or a directory to run a private `redis-server` in. */
  redis: RedisTarget | { embeddedDir: string };
  /** Key prefix for queues and channels. */
  prefix: string;
  runs: 'all' | 'api' | 'worker';
  admin?: { email: string; password: string } | undefined;
  log: Logger;
  relayIntervalMs?: number;
  hubSafetyIntervalMs?: number;
  workerConcurrency?: number;
  /** Idle and absolute session lifetimes; the ASVS defaults when unset. */
  sessionPolicy?: SessionPolicy;
  /** Streams one session may hold open on one api instance (10 when unset). */
  streamsPerSession?: number;
  /** How often open streams re-check their sessions (the guarantee behind pub/sub). */
  streamCheckIntervalMs?: number;
  /** How often a worker purges expired sessions (5 minutes when unset). */
  sessionPurgeIntervalMs?: number;
  /** How often a worker sweeps for patients past their target wait (15 s). */
  overdueSweepIntervalMs?: number;
  /** Sign-in and registration throttling; `defaultSignInLimits` for what is unset. */
  signInLimits?: Partial<SignInLimits>;
  /** How often a worker looks for sent registrations with no result and no live job (30 s when unset). */
  reconcileIntervalMs?: number;
  /** How long after it was sent a registration may go without its result before it is re-delivered (60 s when unset). */
  reconcileGraceMs?: number;
  /** Server-side statement and idle-in-transaction timeouts (PostgreSQL; `defaultDatabaseTimeouts` when unset). */
  databaseTimeouts?: DatabaseTimeouts;
  /** The longest one registration job attempt may run (30 s when unset). */
  jobTimeoutMs?: number;
}

export interface Phos {
  services: Services;
  /** The api's database: staff requests, the relay, live views. */
  database: Database;
  /**
   * The workers' database (jobs, notifier, sessions purge, reconciler): their own pool on
   * PostgreSQL, so busy workers never leave a staff request waiting for a connection. The same
   * as `database` on PGlite (one connection) and in a worker-only process.
   */
  workerDatabase: Database;
  queue: Queue<RegistrationJobData>;
  /** Queues a FHIR bulk export's job (its `fhir_exports` row is already written). */
  startFhirExport(exportId: string): Promise<void>;
  relay: Relay;
  hub: EventHub;
  worker: Worker<RegistrationJobData> | undefined;
  /** The notification consumer, where this process runs the worker. */
  notifier: Notifier | undefined;
  /** This process's Prometheus metrics (served by http/server.ts or ops/metricsServer.ts). */
  metrics: Metrics;
  redisTarget: RedisTarget;
  /** What /readyz reports. */
  readiness(): Promise<{ database: boolean; redis: boolean; worker: boolean | 'not-run-here' }>;
  /**
   * Stops everything, in reverse order of start. With `jobsBy` (epoch ms), workers take no new
   * job at once and wait for their active ones until then only; a job still running is let go
   * of, and goes back to the queue when its lock lapses (another worker's stall check).
   */
  close(options?: { jobsBy?: number }): Promise<void>;
}

/** How long a health check waits for each dependency: a paused one must read as down, quickly. */
const HEALTH_TIMEOUT_MS = 1_000;

/** True when `promise` resolves within `timeoutMs`. */
async function settle(promise: Promise<unknown>, timeoutMs = HEALTH_TIMEOUT_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
  });
  try {
    await Promise.race([promise, timedOut]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export function configFromEnv(
  env: {
    DATABASE_URL?: string | undefined;
    REDIS_URL?: string | undefined;
    PHOS_DATA_DIR: string;
    PHOS_REDIS_PREFIX: string;
    PHOS_ROLE: PhosConfig['runs'];
    PHOS_WORKER_CONCURRENCY: number;
    PHOS_ADMIN_EMAIL?: string | undefined;
    PHOS_ADMIN_PASSWORD?: string | undefined;
    PHOS_SESSION_IDLE_STAFF_MINUTES: number;
    PHOS_SESSION_IDLE_PATIENT_MINUTES: number;
    PHOS_SESSION_ABSOLUTE_HOURS: number;
    PHOS_STREAMS_PER_SESSION: number;
    PHOS_SIGNIN_WINDOW_SECONDS: number;
    PHOS_SIGNIN_MAX_FAILURES_PER_ACCOUNT: number;
    PHOS_SIGNIN_MAX_FAILURES_PER_ADDRESS: number;
    PHOS_SIGNIN_FAILURES_BEFORE_DELAY: number;
    PHOS_SIGNIN_MAX_DELAY_SECONDS: number;
    PHOS_REGISTER_MAX_PER_ADDRESS: number;
    PHOS_REGISTER_WINDOW_SECONDS: number;
    PHOS_RECONCILE_INTERVAL_SECONDS: number;
    PHOS_RECONCILE_GRACE_SECONDS: number;
    PHOS_DB_STATEMENT_TIMEOUT_MS: number;
    PHOS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: number;
    PHOS_JOB_TIMEOUT_SECONDS: number;
  },
  log: Logger,
): PhosConfig {
  return {
    database: env.DATABASE_URL ? { url: env.DATABASE_URL } : { pgliteDir: path.join(env.PHOS_DATA_DIR, 'pglite') },
    redis: env.REDIS_URL ? { url: env.REDIS_URL } : { embeddedDir: path.join(env.PHOS_DATA_DIR, 'redis') },
    prefix: env.PHOS_REDIS_PREFIX,
    runs: env.PHOS_ROLE,
    workerConcurrency: env.PHOS_WORKER_CONCURRENCY,
    admin: env.PHOS_ADMIN_EMAIL && env.PHOS_ADMIN_PASSWORD ? { email: env.PHOS_ADMIN_EMAIL, password: env.PHOS_ADMIN_PASSWORD } : undefined,
    sessionPolicy: {
      staffIdleMs: env.PHOS_SESSION_IDLE_STAFF_MINUTES * 60_000,
      patientIdleMs: env.PHOS_SESSION_IDLE_PATIENT_MINUTES * 60_000,
      absoluteMs: env.PHOS_SESSION_ABSOLUTE_HOURS * 3_600_000,
    },
    streamsPerSession: env.PHOS_STREAMS_PER_SESSION,
    signInLimits: {
      windowSeconds: env.PHOS_SIGNIN_WINDOW_SECONDS,
      maxFailuresPerAccount: env.PHOS_SIGNIN_MAX_FAILURES_PER_ACCOUNT,
      maxFailuresPerAddress: env.PHOS_SIGNIN_MAX_FAILURES_PER_ADDRESS,
      failuresBeforeDelay: env.PHOS_SIGNIN_FAILURES_BEFORE_DELAY,
      maxDelaySeconds: env.PHOS_SIGNIN_MAX_DELAY_SECONDS,
      registrationsPerAddress: env.PHOS_REGISTER_MAX_PER_ADDRESS,
      registrationWindowSeconds: env.PHOS_REGISTER_WINDOW_SECONDS,
    },
    reconcileIntervalMs: env.PHOS_RECONCILE_INTERVAL_SECONDS * 1000,
    reconcileGraceMs: env.PHOS_RECONCILE_GRACE_SECONDS * 1000,
    databaseTimeouts: {
      statementMs: env.PHOS_DB_STATEMENT_TIMEOUT_MS,
      idleInTransactionMs: env.PHOS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    },
    jobTimeoutMs: env.PHOS_JOB_TIMEOUT_SECONDS * 1000,
    log,
  };
}

/** Connects, migrates and starts what this process runs. `close` undoes it in reverse. */
export async function startPhos(config: PhosConfig): Promise<Phos> {
  const { log } = config;
  const shutdown = createShutdown(log);
  /** Every background error of this process (Redis connections, queues, workers), logged rate limited. */
  const errors = createErrorReporter(log);
  // Added first, so it closes last: requests scoring passwords end before it.
  shutdown.add('password scorer', closePasswordScorer);
  let workers: Workers | undefined;
  /** Set when a shutdown has a deadline for jobs: each worker's close waits for its jobs until then only. */
  let jobsDeadline: Promise<void> | undefined;
  const close = async (options: { jobsBy?: number } = {}) => {
    if (options.jobsBy !== undefined) {
      const timeLeft = Math.max(0, options.jobsBy - Date.now());
      jobsDeadline = new Promise((resolve) => setTimeout(resolve, timeLeft).unref());
      workers?.stopTakingJobs();
    }
    await shutdown.run();
  };

  try {
    let redisTarget: RedisTarget;
    if ('embeddedDir' in config.redis) {
      const embeddedRedis = await startEmbeddedRedis(config.redis.embeddedDir);
      shutdown.add('embedded Redis', () => embeddedRedis.stop());
      redisTarget = { path: embeddedRedis.socketPath };
    } else {
      redisTarget = config.redis;
    }

    const onConnectionLost = (error: Error) => log.warn({ code: errorCode(error) }, 'database connection lost; the next query reconnects');
    const postgresUrl = 'url' in config.database ? config.database.url : undefined;
    const database =
      postgresUrl !== undefined
        ? connectPostgres(postgresUrl, {
            onConnectionLost,
            timeouts: config.databaseTimeouts,
            ...(config.runs === 'worker' ? { max: (config.workerConcurrency ?? 8) + 4 } : {}),
          })
        : connectPglite('pgliteDir' in config.database ? config.database.pgliteDir : undefined);
    shutdown.add('database', () => database.close());
    const { db } = database;
    let workerDatabase = database;
    if (postgresUrl !== undefined && config.runs === 'all') {
      // Job slots, the notifier, the purge and the reconciler, with room to spare.
      workerDatabase = connectPostgres(postgresUrl, {
        max: (config.workerConcurrency ?? 8) + 4,
        onConnectionLost,
        timeouts: config.databaseTimeouts,
      });
      const opened = workerDatabase;
      // Pushed now, so it closes after the workers that use it (steps run in reverse).
      shutdown.add('worker database', () => opened.close());
    }
    const workerDb = workerDatabase.db;
    await database.withStartupLock(async () => {
      await database.migrate();
      if (config.runs === 'worker') return;
      const admin = await ensureFirstAdmin(db, config.admin);
      if (admin === 'created') log.info('created the first Admin from PHOS_ADMIN_EMAIL');
      if (admin === 'not-configured') log.warn('no Admin exists: set PHOS_ADMIN_EMAIL and PHOS_ADMIN_PASSWORD to create one');
    });

    const producer = connectFailFast(redisTarget);
    // Each connection reconnects by itself; the work that failed meanwhile reports its own outcome.
    errors.watchConnection(producer, 'producer connection');
    shutdown.add('producer connection', () => producer.disconnect());
    const queue = createRegistrationsQueue(producer, config.prefix);
    errors.watch(queue, 'registrations queue');
    shutdown.add('registrations queue', () => queue.close());
    const fhirExports = createFhirExportsQueue(producer, config.prefix);
    errors.watch(fhirExports, 'fhir exports queue');
    shutdown.add('fhir exports queue', () => fhirExports.close());

    const publisher = connectBlocking(redisTarget);
    errors.watchConnection(publisher, 'publisher connection');
    shutdown.add('publisher connection', () => publisher.disconnect());

    const relay = createRelay({ db, deliver: deliverRegistrations(queue), log, intervalMs: config.relayIntervalMs });
    relay.start();
    shutdown.add('outbox relay', () => relay.stop());

    const subscriber = connectBlocking(redisTarget, { lazyConnect: config.runs === 'worker' });
    errors.watchConnection(subscriber, 'events subscriber');
    shutdown.add('events subscriber', () => subscriber.disconnect());
    const hub = createEventHub({
      db,
      subscriber,
      prefix: config.prefix,
      log,
      safetyIntervalMs: config.hubSafetyIntervalMs,
    });
    // A worker-only process serves no subscriptions: its hub stays unstarted and unconnected.
    if (config.runs !== 'worker') {
      await hub.start();
      shutdown.add('event hub', () => hub.stop());
    }

    // Revocations get their own subscriber: the hub's reads the log on any message it receives.
    const revocations = connectBlocking(redisTarget, { lazyConnect: config.runs === 'worker' });
    errors.watchConnection(revocations, 'revocations subscriber');
    shutdown.add('revocations subscriber', () => revocations.disconnect());
    const streams = createStreamRegistry({
      db,
      subscriber: revocations,
      prefix: config.prefix,
      log,
      maxPerSession: config.streamsPerSession ?? 10,
      checkIntervalMs: config.streamCheckIntervalMs,
    });
    if (config.runs !== 'worker') {
      await streams.start();
      shutdown.add('streams', () => streams.stop());
    }

    if (config.runs !== 'api') {
      const started = await startWorkers({
        redisTarget,
        producer,
        errors,
        prefix: config.prefix,
        db: workerDb,
        log,
        registrations: queue,
        announce: (lastId) => publishCommitted(publisher, config.prefix, lastId),
        unreadable: hub.unreadable,
        concurrency: config.workerConcurrency,
        jobTimeoutMs: config.jobTimeoutMs,
        notifierIntervalMs: config.hubSafetyIntervalMs,
        sessionPurgeIntervalMs: config.sessionPurgeIntervalMs,
        overdueSweepIntervalMs: config.overdueSweepIntervalMs,
        reconcileIntervalMs: config.reconcileIntervalMs,
        reconcileGraceMs: config.reconcileGraceMs,
      });
      workers = started;
      shutdown.add('workers', () => started.close(jobsDeadline));
    }
    const worker = workers?.registrations;
    void relay.kick();

    // Its own connection with a bounded wait: a sign-in is answered (refused) while Redis is away.
    const throttleRedis = connectBounded(redisTarget);
    errors.watchConnection(throttleRedis, 'throttle connection');
    shutdown.add('throttle connection', () => throttleRedis.disconnect());
    const signIn = createSignInGuard({ redis: throttleRedis, prefix: config.prefix, log, limits: config.signInLimits });

    // Health pings get their own connection, whose commands give up with the check: the
    // producer's would stay queued behind a paused Redis.
    const healthRedis = connectBounded(redisTarget, HEALTH_TIMEOUT_MS);
    errors.watchConnection(healthRedis, 'health connection');
    shutdown.add('health connection', () => healthRedis.disconnect());

    const services: Services = {
      db,
      hub,
      visits: createVisitBoard({ db, hub, log }),
      log,
      kickRelay: () => void relay.kick(),
      announce: (lastEventId) => {
        void hub.pump();
        publishCommitted(publisher, config.prefix, lastEventId).catch((error: unknown) => {
          log.warn({ err: error }, 'could not announce committed events; the hub safety pass will');
        });
      },
      sessionPolicy: config.sessionPolicy ?? defaultSessionPolicy,
      streams,
      operations: createOperations({ db, registrations: queue, queues: [queue, ...(workers?.queues ?? [])], log }),
      signIn,
      sessionsRevoked: () => {
        void streams.check();
        publishRevoked(publisher, config.prefix).catch((error: unknown) => {
          log.warn({ err: error }, 'could not announce revoked sessions; the periodic stream check will');
        });
      },
    };
    const metrics = createMetrics({
      db,
      queues: [queue, ...(workers?.queues ?? [])],
      ...(config.runs === 'worker' ? {} : { openStreams: () => streams.openByProcedure() }),
    });
    if (worker) metrics.watchRegistrations(worker);

    return {
      services,
      metrics,
      database,
      workerDatabase,
      queue,
      startFhirExport: (exportId) => enqueueFhirExport(fhirExports, exportId),
      relay,
      hub,
      worker,
      notifier: workers?.notifier,
      redisTarget,
      async readiness() {
        const [databaseUp, redisUp] = await Promise.all([settle(database.ping()), settle(healthRedis.ping())]);
        return {
          database: databaseUp,
          redis: redisUp,
          worker: worker ? worker.isRunning() && redisUp : 'not-run-here',
        };
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
