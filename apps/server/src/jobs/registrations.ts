import { Queue, UnrecoverableError, Worker, type Job, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { DomainEvent, StaffRef } from '@phos/shared';
import type { Db } from '../db/client.js';
import { commitAndAnnounce } from '../events/log.js';
import { readOutbox } from '../outbox/outbox.js';
import { errorCode, redactedError } from '../logging.js';
import type { OutboxRow } from '../outbox/relay.js';
import { displayName, findUserById } from '../identity/users.js';
import { createPatientFromRegistration, createWalkInPatient, findPatient, type PatientRow } from '../patients/patients.js';
import { activeEntryForPatient } from '../queue/entries.js';
import { addToQueue } from '../queue/transitions.js';

export const REGISTRATIONS_QUEUE = 'registrations';

/** Outbox event types this queue handles; each becomes a job of that name. */
export const registrationTypes = ['user.registered', 'walk_in.registered'] as const;
type RegistrationType = (typeof registrationTypes)[number];

function isRegistrationType(type: string): type is RegistrationType {
  return (registrationTypes as readonly string[]).includes(type);
}

/** Ids only: BullMQ keeps job data in clear text in Redis. */
const jobData = z.object({ registrationId: z.uuid() });
export type RegistrationJobData = z.infer<typeof jobData>;

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

/** The relay's delivery: one job per outbox row, its id the outbox id, so redelivery is a no-op. */
export function deliverRegistrations(queue: Queue<RegistrationJobData>) {
  return async (rows: readonly OutboxRow[]): Promise<void> => {
    const jobs = rows
      .filter((row) => isRegistrationType(row.type))
      .map((row) => ({ name: row.type, data: { registrationId: row.id }, opts: { jobId: row.id } }));
    if (jobs.length > 0) await queue.addBulk(jobs);
  };
}

/** Commits the job's change with its events and announces them; false when there was nothing to commit. */
async function commitJob(
  deps: RegistrationDeps,
  registrationId: string,
  work: (tx: Db) => Promise<DomainEvent[] | null>,
): Promise<boolean> {
  const announce = async (lastEventId: bigint) => {
    try {
      await deps.announce(lastEventId);
    } catch (error) {
      // The events are committed; the hub's safety pass picks them up without the message.
      deps.log.warn({ err: error, registrationId }, 'could not announce committed events');
    }
  };
  const { events } = await commitAndAnnounce({ db: deps.db, announce }, async (tx) => ({ events: (await work(tx)) ?? [] }));
  return events.length > 0;
}

/** Queues a just-created patient, arriving when they registered; returns all the events. */
async function queueNewPatient(
  tx: Db,
  created: { patient: PatientRow; events: DomainEvent[] },
  registrationId: string,
): Promise<DomainEvent[]> {
  const { patient } = created;
  const queued = await addToQueue(tx, {
    patientId: patient.id,
    registrationId,
    firstName: patient.firstName,
    lastName: patient.lastName,
    dateOfBirth: patient.dateOfBirth,
    arrivedAt: patient.registeredAt,
    possibleDuplicate: patient.possibleDuplicateOf !== null,
  });
  return [...created.events, ...(queued?.events ?? [])];
}

/**
 * Turns a `user.registered` event into a patient and a queue entry, with their events, in one
 * transaction. Safe to run any number of times for the same registration.
 */
async function processUserRegistered(deps: RegistrationDeps, registrationId: string): Promise<RegistrationOutcome> {
  const registration = await readOutbox(deps.db, registrationId, 'user.registered');
  if (!registration) throw new UnrecoverableError(`registration ${registrationId} is not in the outbox`);
  if (registration.role !== 'Patient') return 'not-a-patient';
  const { dateOfBirth } = registration;
  if (dateOfBirth === null) throw new UnrecoverableError(`registration ${registrationId} has no date of birth`);

  const created = await commitJob(deps, registrationId, async (tx) => {
    const created = await createPatientFromRegistration(tx, { ...registration, dateOfBirth });
    return created ? queueNewPatient(tx, created, registrationId) : null;
  });
  return created ? 'patient-created' : 'already-processed';
}

/** The staff member who registered a walk-in, named as the record's identity verifier. */
async function registeredByRef(db: Db, userId: string): Promise<StaffRef> {
  const staff = await findUserById(db, userId);
  if (!staff) throw new UnrecoverableError(`the staff member who registered a walk-in (${userId}) is unknown`);
  return { id: staff.id, name: displayName(staff) };
}

/** A walk-in: a new patient and its entry, or an existing patient queued again. Idempotent. */
async function processWalkIn(deps: RegistrationDeps, registrationId: string): Promise<RegistrationOutcome> {
  const walkIn = await readOutbox(deps.db, registrationId, 'walk_in.registered');
  if (!walkIn) throw new UnrecoverableError(`walk-in ${registrationId} is not in the outbox`);

  if (walkIn.existingPatientId === null) {
    const registeredBy = await registeredByRef(deps.db, walkIn.registeredBy);
    const created = await commitJob(deps, registrationId, async (tx) => {
      const created = await createWalkInPatient(tx, registrationId, walkIn, registeredBy);
      return created ? queueNewPatient(tx, created, registrationId) : null;
    });
    return created ? 'patient-created' : 'already-processed';
  }

  const existingId = walkIn.existingPatientId;
  let outcome: RegistrationOutcome = 'already-processed';
  await commitJob(deps, registrationId, async (tx) => {
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

/** Runs the job named `name` for its registration. Safe to run any number of times. */
export async function processRegistration(deps: RegistrationDeps, name: string, data: unknown): Promise<RegistrationOutcome> {
  const parsed = jobData.safeParse(data);
  if (!parsed.success) throw new UnrecoverableError('registration job data is malformed');
  const { registrationId } = parsed.data;
  if (!isRegistrationType(name)) throw new UnrecoverableError(`no handler for job ${name}`);
  switch (name) {
    case 'user.registered':
      return processUserRegistered(deps, registrationId);
    case 'walk_in.registered':
      return processWalkIn(deps, registrationId);
  }
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

export function startRegistrationWorker(options: {
  connection: Redis;
  prefix: string;
  deps: RegistrationDeps;
  concurrency?: number | undefined;
  /** The longest one attempt may run (30 s when unset). */
  jobTimeoutMs?: number | undefined;
  /** Overrides `registrationLocks` (tests make a dead worker's job return faster). */
  stalled?: Pick<WorkerOptions, 'lockDuration' | 'stalledInterval'>;
}): Worker<RegistrationJobData> {
  const { connection, prefix, deps, concurrency = 8, jobTimeoutMs = 30_000 } = options;
  const worker = new Worker<RegistrationJobData>(
    REGISTRATIONS_QUEUE,
    async (job: Job<RegistrationJobData>) => {
      try {
        return await withinTime(jobTimeoutMs, processRegistration(deps, job.name, job.data));
      } catch (error) {
        // BullMQ keeps the message and stack in Redis; a query error's would carry the patient's data.
        throw redactedError(error, (message) =>
          error instanceof UnrecoverableError ? new UnrecoverableError(message) : new Error(message),
        );
      }
    },
    { connection, prefix, concurrency, ...registrationLocks, maxStalledCount: ATTEMPTS, ...options.stalled },
  );
  worker.on('failed', (job, error) => {
    const fields = { jobId: job?.id, job: job?.name, attempts: job?.attemptsMade, code: errorCode(error), reason: error.message };
    // finishedOn is set only when BullMQ gives up on the job (no retry left, or unrecoverable).
    if (job && job.finishedOn === undefined) deps.log.warn(fields, 'registration job failed; it will be retried');
    else deps.log.error(fields, 'registration job failed for good');
  });
  worker.on('stalled', (jobId) => deps.log.warn({ jobId }, 'registration job stalled (its worker died or froze); it runs again'));
  worker.on('error', (error) => deps.log.warn({ err: error }, 'registration worker error'));
  return worker;
}

export async function closeRegistrationWorker(worker: Worker<RegistrationJobData>): Promise<void> {
  await worker.close();
}
