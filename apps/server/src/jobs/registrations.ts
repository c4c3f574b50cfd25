import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Db } from '../db/client.js';
import { appendEvents } from '../events/log.js';
import { readOutbox } from '../events/outbox.js';
import type { OutboxRow } from '../events/relay.js';
import { createPatientFromRegistration } from '../patients/patients.js';
import { addToQueue } from '../queue/queue.js';

export const REGISTRATIONS_QUEUE = 'registrations';
const JOB_NAME = 'user.registered';

/** Ids only: BullMQ keeps job data in clear text in Redis. */
const jobData = z.object({ registrationId: z.uuid() });
export type RegistrationJobData = z.infer<typeof jobData>;

export interface RegistrationDeps {
  db: Db;
  /** Announces committed events to the api instances. */
  announce: (lastEventId: bigint) => Promise<void>;
  log: Logger;
}

export type RegistrationOutcome = 'patient-created' | 'already-processed' | 'not-a-patient';

export function createRegistrationsQueue(connection: Redis, prefix: string): Queue<RegistrationJobData> {
  return new Queue<RegistrationJobData>(REGISTRATIONS_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: 12,
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
      .filter((row) => row.type === JOB_NAME)
      .map((row) => ({ name: JOB_NAME, data: { registrationId: row.id }, opts: { jobId: row.id } }));
    if (jobs.length > 0) await queue.addBulk(jobs);
  };
}

/**
 * Turns a `user.registered` event into a patient and a queue entry, with their events, in one
 * transaction. Safe to run any number of times for the same registration.
 */
export async function processRegistration(deps: RegistrationDeps, data: unknown): Promise<RegistrationOutcome> {
  const parsed = jobData.safeParse(data);
  if (!parsed.success) throw new UnrecoverableError('registration job data is malformed');
  const { registrationId } = parsed.data;
  const registration = await readOutbox(deps.db, registrationId, 'user.registered');
  if (!registration) throw new UnrecoverableError(`registration ${registrationId} is not in the outbox`);
  if (registration.role !== 'Patient') return 'not-a-patient';
  const { dateOfBirth } = registration;
  if (dateOfBirth === null) throw new UnrecoverableError(`registration ${registrationId} has no date of birth`);

  const lastEventId = await deps.db.transaction(async (tx) => {
    const created = await createPatientFromRegistration(tx, { ...registration, dateOfBirth });
    if (!created) return null;
    const queued = await addToQueue(tx, {
      patientId: created.patient.id,
      registrationId,
      firstName: created.patient.firstName,
      lastName: created.patient.lastName,
      dateOfBirth: created.patient.dateOfBirth,
      arrivedAt: created.patient.registeredAt,
    });
    return appendEvents(tx, [...created.events, ...(queued?.events ?? [])]);
  });
  if (lastEventId === null) return 'already-processed';

  try {
    await deps.announce(lastEventId);
  } catch (error) {
    // The event is committed; the hub's safety timer picks it up without the message.
    deps.log.warn({ err: error, registrationId }, 'could not announce committed events');
  }
  return 'patient-created';
}

export function startRegistrationWorker(options: {
  connection: Redis;
  prefix: string;
  deps: RegistrationDeps;
  concurrency?: number;
}): Worker<RegistrationJobData> {
  const { connection, prefix, deps, concurrency = 8 } = options;
  const worker = new Worker<RegistrationJobData>(
    REGISTRATIONS_QUEUE,
    async (job: Job<RegistrationJobData>) => processRegistration(deps, job.data),
    { connection, prefix, concurrency },
  );
  worker.on('failed', (job, error) => {
    deps.log.error({ jobId: job?.id, attempts: job?.attemptsMade, err: error }, 'registration job failed');
  });
  worker.on('error', (error) => deps.log.warn({ err: error }, 'registration worker error'));
  return worker;
}

export async function closeRegistrationWorker(worker: Worker<RegistrationJobData>): Promise<void> {
  await worker.close();
}
