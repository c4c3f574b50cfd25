import type { Job, Queue, Worker } from 'bullmq';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/client.js';
import { headEventId } from '../events/log.js';
import type { RegistrationJobData, RegistrationOutcome } from '../jobs/registrations.js';
import { jobStates, readConsumerLag, readOutboxBacklog, type OutboxBacklog } from './pipeline.js';

/** What a scrape reads from this process: its database, its queues and its open streams. */
export interface MetricsSources {
  db: Db;
  /** The queues this process can see, by name; their counts and workers are read on each scrape. */
  queues: readonly Queue[];
  /** Open streams by procedure, on this instance. */
  openStreams?: () => Map<string, number>;
}

export interface Metrics {
  registry: Registry;
  /** One HTTP request's duration, by procedure (or route) and status. */
  observeRequest(procedure: string, status: number, seconds: number): void;
  /** Counts the registration worker's jobs by outcome, and times each registration from commit to patient. */
  watchRegistrations(worker: Worker<RegistrationJobData>): void;
  /** The scrape's text, in Prometheus's format. */
  scrape(): Promise<string>;
  contentType: string;
}

function registrationKind(jobName: string): string {
  if (jobName === 'walk_in.registered') return 'walk_in';
  return jobName === 'patient.submitted' ? 'fhir' : 'self';
}

/** Outcomes that made or queued a patient: their time from commit to done is the registration's latency. */
const arrivals = new Set<RegistrationOutcome>(['patient-created', 'patient-queued']);

/**
 * The process's metrics, in a registry of its own (a test runs several Phos in one process):
 * Node's defaults (event-loop lag included), HTTP durations, the pipeline's backlog (outbox, job
 * queues, event consumers) read on each scrape, and the registration worker's outcomes and latency.
 */
export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { db } = sources;

  const requests = new Histogram({
    name: 'phos_http_request_duration_seconds',
    help: 'HTTP requests by tRPC procedure (or route) and status code; live streams are not counted here',
    labelNames: ['procedure', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const latency = new Histogram({
    name: 'phos_registration_latency_seconds',
    help: 'From the commit of a registration (self or walk-in) to its patient created and queued',
    labelNames: ['kind'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [registry],
  });

  const jobs = new Counter({
    name: 'phos_registration_jobs_total',
    help: 'Registration job attempts by outcome: what a completed job did, or failed (retried) and failed_for_good',
    labelNames: ['outcome'],
    registers: [registry],
  });

  /** The outbox's backlog, read once per scrape for both of its gauges. */
  let backlog: Promise<OutboxBacklog> | null = null;
  const readBacklog = () => (backlog ??= readOutboxBacklog(db));
  new Gauge({
    name: 'phos_outbox_unsent',
    help: 'Outbox rows committed and not yet handed to the job queue',
    registers: [registry],
    async collect() {
      this.set((await readBacklog()).unsent);
    },
  });
  new Gauge({
    name: 'phos_outbox_oldest_unsent_age_seconds',
    help: 'Age of the oldest outbox row not yet handed to the job queue (0 when none)',
    registers: [registry],
    async collect() {
      this.set((await readBacklog()).oldestAgeSeconds);
    },
  });

  new Gauge({
    name: 'phos_queue_jobs',
    help: 'BullMQ jobs per queue and state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      for (const queue of sources.queues) {
        const counts = await queue.getJobCounts(...jobStates);
        for (const state of jobStates) this.set({ queue: queue.name, state }, counts[state] ?? 0);
      }
    },
  });

  new Gauge({
    name: 'phos_queue_workers',
    help: 'Workers connected to each BullMQ queue, from any process',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      for (const queue of sources.queues) this.set({ queue: queue.name }, await queue.getWorkersCount());
    },
  });

  new Gauge({
    name: 'phos_event_log_head',
    help: 'Id of the newest committed event',
    registers: [registry],
    async collect() {
      this.set(Number(await headEventId(db)));
    },
  });

  const consumerLag = new Gauge({
    name: 'phos_event_consumer_lag_events',
    help: 'Events each durable consumer of the event log has yet to handle',
    labelNames: ['consumer'],
    registers: [registry],
  });
  new Gauge({
    name: 'phos_event_consumer_lag_seconds',
    help: 'Age of the oldest event each durable consumer has yet to handle (0 when caught up)',
    labelNames: ['consumer'],
    registers: [registry],
    async collect() {
      for (const consumer of (await readConsumerLag(db)).consumers) {
        consumerLag.set({ consumer: consumer.name }, consumer.lagEvents);
        this.set({ consumer: consumer.name }, consumer.lagSeconds);
      }
    },
  });

  const openStreams = sources.openStreams;
  if (openStreams) {
    new Gauge({
      name: 'phos_open_subscriptions',
      help: 'Live views (subscriptions) open on this api instance, by procedure',
      labelNames: ['procedure'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [procedure, count] of openStreams()) this.set({ procedure }, count);
      },
    });
  }

  return {
    registry,
    contentType: registry.contentType,
    observeRequest(procedure, status, seconds) {
      requests.observe({ procedure, status: String(status) }, seconds);
    },
    watchRegistrations(worker) {
      worker.on('completed', (job: Job<RegistrationJobData>, outcome: RegistrationOutcome) => {
        jobs.inc({ outcome });
        // The relay stamps each job with its outbox row's commit time (`timestamp`).
        if (arrivals.has(outcome) && job.finishedOn !== undefined) {
          latency.observe({ kind: registrationKind(job.name) }, (job.finishedOn - job.timestamp) / 1000);
        }
      });
      worker.on('failed', (job) => jobs.inc({ outcome: job && job.finishedOn === undefined ? 'failed' : 'failed_for_good' }));
    },
    async scrape() {
      backlog = null;
      try {
        return await registry.metrics();
      } finally {
        backlog = null;
      }
    },
  };
}
