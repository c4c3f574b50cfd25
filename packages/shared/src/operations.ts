import { z } from 'zod';
import { uuidSchema } from './fields.js';

/** How a registration came in: the person signed up themselves, staff registered a walk-in, or another system sent it over FHIR. */
export const registrationKinds = ['self', 'walk_in', 'fhir'] as const;
export type RegistrationKind = (typeof registrationKinds)[number];

/** A registration whose job BullMQ gave up on: it waits for an Admin to retry or discard it. */
export const failedRegistrationSchema = z.object({
  registrationId: uuidSchema,
  kind: z.enum(registrationKinds),
  /** The registrant's name as registered (no patient record exists yet). */
  patientName: z.string(),
  /** The last attempt's error: SQLSTATE, constraint and ids, never the registrant's data. */
  error: z.string(),
  attempts: z.number().int().nonnegative(),
  registeredAt: z.iso.datetime(),
  /** When the first failed attempt ended; null if BullMQ kept no record of it. */
  firstAttemptAt: z.iso.datetime().nullable(),
  lastAttemptAt: z.iso.datetime().nullable(),
});
export type FailedRegistration = z.infer<typeof failedRegistrationSchema>;

export const queueHealthSchema = z.object({
  name: z.string(),
  waiting: z.number().int().nonnegative(),
  active: z.number().int().nonnegative(),
  delayed: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  /** Worker connections to this queue, from every process. */
  workers: z.number().int().nonnegative(),
});

export const consumerLagSchema = z.object({
  name: z.string(),
  lagEvents: z.number().int().nonnegative(),
  /** Age of the oldest event it has yet to handle; 0 when caught up. */
  lagSeconds: z.number().nonnegative(),
});

/** The pipeline from commit to push, as the Operations page shows it. */
export const pipelineStatusSchema = z.object({
  at: z.iso.datetime(),
  outbox: z.object({ unsent: z.number().int().nonnegative(), oldestAgeSeconds: z.number().nonnegative() }),
  queues: z.array(queueHealthSchema),
  eventLog: z.object({ head: z.string(), consumers: z.array(consumerLagSchema) }),
  /** The oldest failed registrations first, at most FAILED_SHOWN of them. */
  failedRegistrations: z.array(failedRegistrationSchema),
  /** Every failed registration, shown or not. */
  failedTotal: z.number().int().nonnegative(),
});
export type PipelineStatus = z.infer<typeof pipelineStatusSchema>;

/** The most failed registrations the Operations page lists at once; retry all takes every one. */
export const FAILED_SHOWN = 100;

export const retryRegistrationInput = z.object({ registrationId: uuidSchema });

export const discardRegistrationInput = z.object({
  registrationId: uuidSchema,
  /** Why no patient will come of it: kept on the registration, shown to the next Admin. */
  reason: z.string().trim().min(5, 'Say why, in a few words').max(500),
});

export const retriedOutput = z.object({ retried: z.number().int().nonnegative() });
