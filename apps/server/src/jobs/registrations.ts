import { SpanKind } from '@opentelemetry/api';
import { Queue, UnrecoverableError, Worker, type Job, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { DomainEvent, StaffRef, WalkInRegisteredV1 } from '@phos/shared';
import { isDatabaseBusy, isRefusedByDatabase, type Db } from '../db/client.js';
import { commitAndAnnounce, type NewEvent } from '../events/log.js';
import type { EventMeta } from '../events/meta.js';
import { readOutbox, readOutboxes } from '../outbox/outbox.js';
import { createErrorReporter, errorCode, redactedError, workScope, type ErrorReporter } from '../logging.js';
import type { OutboxRow } from '../outbox/relay.js';
import { displayName, findUserById } from '../identity/users.js';
import {
  createPatientFromRegistration,
  createSubmittedPatient,
  createWalkInPatients,
  findPatient,
  type PatientRow,
  type WalkInArrival,
} from '../patients/patients.js';
import { activeEntryForPatient } from '../queue/entries.js';
import { addManyToQueue, addToQueue, type Arrival } from '../queue/transitions.js';
import {
  activeTraceparent,
  contextOf,
  inSpan,
  parentOf,
  spanFailed,
  startSpan,
  traceparentOf,
  TRACEPARENT_PATTERN,
  withParent,
} from '../trace-context.js';

export const REGISTRATIONS_QUEUE = 'registrations';

/** Outbox event types this queue handles; each becomes a job of that name. */
export const registrationTypes = ['user.registered', 'walk_in.registered', 'patient.submitted'] as const;
type RegistrationType = (typeof registrationTypes)[number];

function isRegistrationType(type: string): type is RegistrationType {
  return (registrationTypes as readonly string[]).includes(type);
}

/**
 * Ids only: BullMQ keeps job data in clear text in Redis. The request id is the one that wrote the
 * registration; the traceparent (tracing on) is its delivery's span, which the job's span continues.
 */
const jobData = z.object({
  registrationId: z.uuid(),
  requestId: z.string().max(200).optional(),
  traceparent: z.string().regex(TRACEPARENT_PATTERN).optional(),
});
export type RegistrationJobData = z.infer<typeof jobData>;

/** A registration's job data, from its outbox row (and the trace context its job runs in, if traced). */
export function registrationJobData(row: Pick<OutboxRow, 'id' | 'requestId'>, traceparent?: string): RegistrationJobData {
  return {
    registrationId: row.id,
    ...(row.requestId === null ? {} : { requestId: row.requestId }),
    ...(traceparent === undefined ? {} : { traceparent }),
  };
}

export interface RegistrationDeps {
  db: Db;
  /** Announces committed events to the api instances. */
  announce: (lastEventId: bigint) => Promise<void>;
  log: Logger;
}

export type RegistrationOutcome = 'patient-created' | 'patient-queued' | 'already-processed' | 'already-queued' | 'not-a-patient';

/** Tries per job; a stall (its worker died) is allowed as often, so stalls are ordinary retries. */
const ATTEMPTS = 12;

/**
 * How soon a job whose worker died runs again. A worker renews each running job's lock every
 * lockDuration / 2, so a dead worker's lock lapses at most lockDuration (4 s) after it died. The
 * stalled check moves back to waiting the jobs it saw active on its previous pass that are now
 * unlocked, and a free worker takes them at once. Checks are due every stalledInterval (2 s), but
 * one can skip a turn: each leaves a guard key for stalledInterval that a timer firing a millisecond
 * early still finds. Worst case 4 s + 2 × 2 s = 8 s, within the 10 s promised.
 * A live job looks stalled only if its event loop is blocked for 2 s; that costs a second run,
 * which the idempotent handler makes harmless.
 */
export const registrationLocks = { lockDuration: 4_000, stalledInterval: 2_000 } as const;

export function createRegistrationsQueue(connection: Redis, prefix: string): Queue<RegistrationJobData> {
  return new Queue<RegistrationJobData>(REGISTRATIONS_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: ATTEMPTS,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: false,
    },
  });
}

/**
 * The relay's delivery: one job per outbox row, its id the outbox id, so redelivery is a no-op.
 * A row written in a trace is sent in a span of that trace, and its job carries that span's context.
 */
export function deliverRegistrations(queue: Queue<RegistrationJobData>) {
  return async (rows: readonly OutboxRow[]): Promise<void> => {
    const registrations = rows.filter((row) => isRegistrationType(row.type));
    if (registrations.length === 0) return;
    const spans = registrations.map((row) =>
      row.traceparent === null
        ? undefined
        : startSpan(
            `send ${REGISTRATIONS_QUEUE}`,
            { kind: SpanKind.PRODUCER, attributes: { 'messaging.destination.name': REGISTRATIONS_QUEUE, 'messaging.message.id': row.id } },
            contextOf(row.traceparent),
          ),
    );
    // One row (the usual pass, right after a commit): BullMQ's Redis calls are its span's children.
    const only = spans.length === 1 && spans[0] ? parentOf(spans[0]) : undefined;
    try {
      await withParent(only, () =>
        queue.addBulk(
          registrations.map((row, index) => {
            const span = spans[index];
            return {
              name: row.type,
              data: registrationJobData(row, span && traceparentOf(span)),
              // Stamped with the commit time, so a job's age (and the registration latency metric) counts from the click.
              opts: { jobId: row.id, timestamp: row.createdAt.getTime() },
            };
          }),
        ),
      );
    } catch (error) {
      for (const span of spans) if (span) spanFailed(span, error);
      throw error;
    } finally {
      for (const span of spans) span?.end();
    }
  };
}

/**
 * Commits the job's change with its events and announces them; false when there was nothing to
 * commit. `meta` goes with each event that has none of its own: the registering request's id.
 */
async function commitJob(
  deps: RegistrationDeps,
  registrationIds: string | readonly string[],
  meta: EventMeta,
  work: (tx: Db) => Promise<NewEvent[] | null>,
): Promise<boolean> {
  const announce = async (lastEventId: bigint) => {
    try {
      await deps.announce(lastEventId);
    } catch (error) {
      // The events are committed; the hub's safety pass picks them up without the message.
      deps.log.warn({ err: error, registrationIds }, 'could not announce committed events');
    }
  };
  const { events } = await commitAndAnnounce({ db: deps.db, announce }, async (tx) => ({ events: (await work(tx)) ?? [] }), meta);
  return events.length > 0;
}

/** A just-created patient's arrival in the queue: when they registered. */
function arrivalOf(patient: PatientRow, registrationId: string): Arrival {
  return {
    patientId: patient.id,
    registrationId,
    firstName: patient.firstName,
    lastName: patient.lastName,
    dateOfBirth: patient.dateOfBirth,
    arrivedAt: patient.registeredAt,
    possibleDuplicate: patient.possibleDuplicateOf !== null,
  };
}

/** Queues a just-created patient; returns all the events. */
async function queueNewPatient(
  tx: Db,
  created: { patient: PatientRow; events: DomainEvent[] },
  registrationId: string,
): Promise<DomainEvent[]> {
  const queued = await addToQueue(tx, arrivalOf(created.patient, registrationId));
  return [...created.events, ...(queued?.events ?? [])];
}

/**
 * Turns a `user.registered` event into a patient and a queue entry, with their events, in one
 * transaction. Safe to run any number of times for the same registration.
 */
async function processUserRegistered(deps: RegistrationDeps, registrationId: string, meta: EventMeta): Promise<RegistrationOutcome> {
  const registration = await readOutbox(deps.db, registrationId, 'user.registered');
  if (!registration) throw new UnrecoverableError(`registration ${registrationId} is not in the outbox`);
  if (registration.role !== 'Patient') return 'not-a-patient';
  const { dateOfBirth } = registration;
  if (dateOfBirth === null) throw new UnrecoverableError(`registration ${registrationId} has no date of birth`);

  const created = await commitJob(deps, registrationId, meta, async (tx) => {
    const created = await createPatientFromRegistration(tx, { ...registration, dateOfBirth });
    return created ? queueNewPatient(tx, created, registrationId) : null;
  });
  return created ? 'patient-created' : 'already-processed';
}

/** A Patient another system sent over FHIR: a record (unverified), not an arrival. Safe to run any number of times. */
async function processSubmittedPatient(deps: RegistrationDeps, registrationId: string, meta: EventMeta): Promise<RegistrationOutcome> {
  const submitted = await readOutbox(deps.db, registrationId, 'patient.submitted');
  if (!submitted) throw new UnrecoverableError(`submission ${registrationId} is not in the outbox`);
  const created = await commitJob(deps, registrationId, meta, async (tx) => {
    const patient = await createSubmittedPatient(tx, registrationId, submitted);
    return patient ? patient.events : null;
  });
  return created ? 'patient-created' : 'already-processed';
}

/** The staff member who registered a walk-in, named as the record's identity verifier. */
async function registeredByRef(db: Db, userId: string): Promise<StaffRef> {
  const staff = await findUserById(db, userId);
  if (!staff) throw new UnrecoverableError(`the staff member who registered a walk-in (${userId}) is unknown`);
  return { id: staff.id, name: displayName(staff) };
}

/** One job's result in a batch. */
type Settled = { outcome: RegistrationOutcome } | { error: unknown };

async function settle(work: Promise<RegistrationOutcome>): Promise<Settled> {
  try {
    return { outcome: await work };
  } catch (error) {
    return { error };
  }
}

/**
 * Walk-ins, any number at once: their outbox rows are read in one statement, and every new
 * patient is created and queued, with its events, in one transaction (one statement per table).
 * A walk-in that queues an existing patient runs on its own. Returns each registration's outcome
 * or error. Idempotent: a registration already processed changes nothing.
 */
async function processWalkIns(deps: RegistrationDeps, jobs: ReadonlyMap<string, EventMeta>): Promise<Map<string, Settled>> {
  const results = new Map<string, Settled>();
  const registrationIds = [...jobs.keys()];
  const metaOf = (registrationId: string) => jobs.get(registrationId) ?? {};
  const read = await readOutboxes(deps.db, registrationIds, 'walk_in.registered');
  const byStaff = new Map<string, { registrationId: string; walkIn: WalkInRegisteredV1 }[]>();
  for (const registrationId of registrationIds) {
    const walkIn = read.get(registrationId);
    if (walkIn === undefined)
      results.set(registrationId, { error: new UnrecoverableError(`walk-in ${registrationId} is not in the outbox`) });
    else if (walkIn instanceof Error) results.set(registrationId, { error: walkIn });
    else if (walkIn.existingPatientId !== null)
      results.set(
        registrationId,
        await settle(queueExistingPatient(deps, registrationId, metaOf(registrationId), walkIn, walkIn.existingPatientId)),
      );
    else byStaff.set(walkIn.registeredBy, [...(byStaff.get(walkIn.registeredBy) ?? []), { registrationId, walkIn }]);
  }

  const arrivals: WalkInArrival[] = [];
  for (const [staffId, walkIns] of byStaff) {
    try {
      const registeredBy = await registeredByRef(deps.db, staffId);
      arrivals.push(...walkIns.map((walkIn) => ({ ...walkIn, registeredBy })));
    } catch (error) {
      for (const { registrationId } of walkIns) results.set(registrationId, { error });
    }
  }
  if (arrivals.length === 0) return results;

  try {
    const created = await createAndQueue(deps, arrivals, metaOf);
    for (const { registrationId } of arrivals) results.set(registrationId, outcomeOf(created, registrationId));
  } catch (error) {
    // The shared transaction failed. Busy (a lock or statement timeout) fails every job, for
    // BullMQ to retry later; else each walk-in runs on its own, so a bad one fails only its own job.
    if (arrivals.length === 1 || isDatabaseBusy(error)) {
      for (const { registrationId } of arrivals) results.set(registrationId, { error });
      return results;
    }
    for (const arrival of arrivals) {
      try {
        results.set(arrival.registrationId, outcomeOf(await createAndQueue(deps, [arrival], metaOf), arrival.registrationId));
      } catch (error) {
        results.set(arrival.registrationId, { error });
      }
    }
  }
  return results;
}

function outcomeOf(created: ReadonlySet<string>, registrationId: string): Settled {
  return { outcome: created.has(registrationId) ? 'patient-created' : 'already-processed' };
}

/**
 * New walk-ins' patients and queue entries, with their events, in one transaction; returns the
 * registrations it created. Each registration's events carry its own request's `metaOf`.
 */
async function createAndQueue(
  deps: RegistrationDeps,
  arrivals: readonly WalkInArrival[],
  metaOf: (registrationId: string) => EventMeta,
): Promise<Set<string>> {
  let created = new Set<string>();
  await commitJob(
    deps,
    arrivals.map((arrival) => arrival.registrationId),
    {},
    async (tx) => {
      const patients = await createWalkInPatients(tx, arrivals);
      const queued = await addManyToQueue(
        tx,
        [...patients].map(([registrationId, { patient }]) => arrivalOf(patient, registrationId)),
      );
      created = new Set(patients.keys());
      return [...patients].flatMap(([registrationId, { events }]) =>
        [...events, ...(queued.get(registrationId)?.events ?? [])].map((event) => ({ ...event, meta: metaOf(registrationId) })),
      );
    },
  );
  return created;
}

/** A walk-in staff matched to an existing patient: queued again unless already in the queue. */
async function queueExistingPatient(
  deps: RegistrationDeps,
  registrationId: string,
  meta: EventMeta,
  walkIn: WalkInRegisteredV1,
  existingId: string,
): Promise<RegistrationOutcome> {
  let outcome: RegistrationOutcome = 'already-processed';
  await commitJob(deps, registrationId, meta, async (tx) => {
    const patient = await findPatient(tx, existingId);
    if (!patient) throw new UnrecoverableError(`walk-in ${registrationId} names no existing patient`);
    if (await activeEntryForPatient(tx, patient.id)) {
      outcome = 'already-queued';
      return null;
    }
    const queued = await addToQueue(tx, {
      patientId: patient.id,
      registrationId,
      firstName: patient.firstName,
      lastName: patient.lastName,
      dateOfBirth: patient.dateOfBirth,
      arrivedAt: new Date(walkIn.registeredAt),
    });
    if (!queued) return null;
    outcome = 'patient-queued';
    return queued.events;
  });
  return outcome;
}

/** The most jobs one batch takes; the worker's concurrency bounds it first. */
const MAX_BATCH = 64;

/**
 * Runs the calls that arrive while a batch is under way together, as the next batch: a job
 * alone runs at once, and jobs that pile up share statements and one transaction.
 */
function batched(
  run: (jobs: ReadonlyMap<string, EventMeta>) => Promise<Map<string, Settled>>,
): (id: string, meta: EventMeta) => Promise<RegistrationOutcome> {
  type Waiting = { id: string; meta: EventMeta; resolve: (outcome: RegistrationOutcome) => void; reject: (error: unknown) => void };
  let waiting: Waiting[] = [];
  let running = false;

  async function drain(): Promise<void> {
    running = true;
    try {
      while (waiting.length > 0) {
        const batch = waiting.slice(0, MAX_BATCH);
        waiting = waiting.slice(batch.length);
        let results: Map<string, Settled>;
        try {
          results = await run(new Map(batch.map((job) => [job.id, job.meta])));
        } catch (error) {
          for (const job of batch) job.reject(error);
          continue;
        }
        for (const job of batch) {
          const result = results.get(job.id);
          if (!result) job.reject(new Error(`registration ${job.id} got no result from its batch`));
          else if ('error' in result) job.reject(result.error);
          else job.resolve(result.outcome);
        }
      }
    } finally {
      running = false;
    }
  }

  return (id, meta) =>
    new Promise<RegistrationOutcome>((resolve, reject) => {
      waiting.push({ id, meta, resolve, reject });
      if (!running) void drain();
    });
}

/**
 * The handler for registration jobs: runs the job named `name` for its registration. Walk-ins
 * that arrive together are processed together. Safe to run any number of times.
 */
export function registrationProcessor(deps: RegistrationDeps): (name: string, data: unknown) => Promise<RegistrationOutcome> {
  const walkIn = batched((jobs) => processWalkIns(deps, jobs));
  return async (name, data) => {
    const parsed = jobData.safeParse(data);
    if (!parsed.success) throw new UnrecoverableError('registration job data is malformed');
    const { registrationId, requestId } = parsed.data;
    // The job's span (tracing on): the hub's push of these events continues its trace.
    const traceparent = activeTraceparent();
    const meta: EventMeta = {
      ...(requestId === undefined ? {} : { requestId }),
      ...(traceparent === undefined ? {} : { traceparent }),
    };
    if (!isRegistrationType(name)) throw new UnrecoverableError(`no handler for job ${name}`);
    switch (name) {
      case 'user.registered':
        return processUserRegistered(deps, registrationId, meta);
      case 'walk_in.registered':
        return walkIn(registrationId, meta);
      case 'patient.submitted':
        return processSubmittedPatient(deps, registrationId, meta);
    }
  };
}

/** Runs the job named `name` for its registration, on its own. Safe to run any number of times. */
export async function processRegistration(deps: RegistrationDeps, name: string, data: unknown): Promise<RegistrationOutcome> {
  return registrationProcessor(deps)(name, data);
}

/** A job attempt that ran past its time; an ordinary, retryable failure. */
export class JobTimeoutError extends Error {
  readonly code = 'JOB_TIMEOUT';
  constructor(timeoutMs: number) {
    super(`job attempt timed out after ${timeoutMs} ms`);
    this.name = 'JobTimeoutError';
  }
}

/**
 * Fails the attempt after `timeoutMs` (BullMQ has no job timeout of its own), freeing the slot.
 * The work it leaves behind is bounded by the database's statement and idle-in-transaction
 * timeouts, and if it still commits, the handler's idempotence makes the retry a no-op.
 */
async function withinTime<T>(timeoutMs: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new JobTimeoutError(timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([work, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a registration job's log lines name: ids only (job data is never logged whole). */
function jobFields(job: Job<RegistrationJobData>): Record<string, unknown> {
  const data = jobData.safeParse(job.data);
  return { jobId: job.id, job: job.name, ...(data.success ? data.data : {}) };
}

/** One failed attempt, as the job's log keeps it for the Operations page. */
export interface AttemptRecord {
  attempt: number;
  at: string;
  code: string;
}

function attemptRecord(job: Job, error: Error): string {
  const record: AttemptRecord = {
    attempt: job.attemptsMade,
    at: new Date(job.finishedOn ?? Date.now()).toISOString(),
    code: errorCode(error),
  };
  return JSON.stringify(record);
}

export function startRegistrationWorker(options: {
  connection: Redis;
  prefix: string;
  deps: RegistrationDeps;
  concurrency?: number | undefined;
  /** The longest one attempt may run (30 s when unset). */
  jobTimeoutMs?: number | undefined;
  /** Overrides `registrationLocks` (tests make a dead worker's job return faster). */
  stalled?: Pick<WorkerOptions, 'lockDuration' | 'stalledInterval'>;
  /** The process's error reporter; one of its own when unset. */
  errors?: ErrorReporter | undefined;
}): Worker<RegistrationJobData> {
  const { connection, prefix, deps, concurrency = 8, jobTimeoutMs = 30_000 } = options;
  const handle = registrationProcessor(deps);
  const worker = new Worker<RegistrationJobData>(
    REGISTRATIONS_QUEUE,
    async (job: Job<RegistrationJobData>) => {
      try {
        const data = jobData.safeParse(job.data).data;
        const scope = { requestId: data?.requestId, jobId: job.id };
        const run = () => withinTime(jobTimeoutMs, handle(job.name, job.data));
        // A traced registration's job runs as a span continuing its delivery's.
        const traced = data?.traceparent;
        return await workScope.run(scope, () =>
          traced === undefined
            ? run()
            : inSpan(
                `process ${REGISTRATIONS_QUEUE}`,
                {
                  kind: SpanKind.CONSUMER,
                  attributes: {
                    'messaging.destination.name': REGISTRATIONS_QUEUE,
                    'messaging.message.id': job.id ?? '',
                    'messaging.operation.name': job.name,
                    'phos.job.attempt': job.attemptsMade + 1,
                  },
                },
                contextOf(traced),
                run,
              ),
        );
      } catch (error) {
        // BullMQ keeps the message and stack in Redis; a query error's would carry the patient's data.
        // Data the database refuses fails the same way every time: it goes to the Admins' failed list at once.
        const unrecoverable = error instanceof UnrecoverableError || isRefusedByDatabase(error);
        throw redactedError(error, (message) => (unrecoverable ? new UnrecoverableError(message) : new Error(message)));
      }
    },
    { connection, prefix, concurrency, ...registrationLocks, maxStalledCount: ATTEMPTS, ...options.stalled },
  );
  worker.on('completed', (job, outcome: RegistrationOutcome) => {
    deps.log.info({ ...jobFields(job), attempts: job.attemptsMade, outcome }, 'registration job done');
  });
  worker.on('failed', (job, error) => {
    const fields = { ...(job ? jobFields(job) : {}), attempts: job?.attemptsMade, code: errorCode(error), reason: error.message };
    // finishedOn is set only when BullMQ gives up on the job (no retry left, or unrecoverable).
    if (job && job.finishedOn === undefined) deps.log.warn(fields, 'registration job failed; it will be retried');
    else deps.log.error(fields, 'registration job failed for good');
    // The Operations page's attempt history: when each attempt failed, and how (no data of the registrant's).
    job
      ?.log(attemptRecord(job, error))
      .catch((logError: unknown) => deps.log.warn({ err: logError, jobId: job.id }, 'could not log a failed attempt'));
  });
  worker.on('stalled', (jobId) => deps.log.warn({ jobId }, 'registration job stalled (its worker died or froze); it runs again'));
  (options.errors ?? createErrorReporter(deps.log)).watch(worker, 'registration worker');
  return worker;
}

export async function closeRegistrationWorker(worker: Worker<RegistrationJobData>): Promise<void> {
  await worker.close();
}
