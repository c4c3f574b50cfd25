import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Patient } from '@medplum/fhirtypes';
import { and, eq, inArray } from 'drizzle-orm';
import { dateOfBirthSchema, type PatientSubmittedV1 } from '@phos/shared';
import { z } from 'zod';
import type { Db } from '../db/client.js';
import { writeOutbox } from '../outbox/outbox.js';
import { patients } from '../patients/schema.js';
import type { SystemClient } from './access.js';
import { toPatient } from './mapping.js';
import { FhirError } from './outcome.js';
import { fhirSubmissionBatches, fhirSubmissions } from './schema.js';

/** The most Patients one transaction Bundle may carry. */
export const MAX_BUNDLE_ENTRIES = 500;

const identifierSchema = z.object({ system: z.string().trim().min(1).max(500), value: z.string().trim().min(1).max(200) });

/** What Phos keeps of a Patient it is sent; anything else in it is accepted and not kept. */
const incomingPatient = z.object({
  resourceType: z.literal('Patient'),
  name: z
    .array(z.object({ family: z.string().trim().min(1).max(100), given: z.array(z.string().trim().min(1).max(100)).min(1) }).loose())
    .min(1),
  birthDate: dateOfBirthSchema,
  telecom: z.array(z.object({ system: z.string().optional(), value: z.string().max(320).optional() }).loose()).optional(),
  identifier: z.array(identifierSchema.loose()).max(20).optional(),
});

/** Which issue made a Patient unacceptable: the path and what was wrong, never the value. */
function invalid(error: z.ZodError, where: string): FhirError {
  const issue = error.issues[0];
  const path = issue ? issue.path.join('.') : '';
  return new FhirError(
    400,
    'invalid',
    `${where}: ${path === '' ? 'the resource' : path} is missing or not valid (${issue?.code ?? 'invalid'})`,
  );
}

export interface Submission {
  patient: Omit<PatientSubmittedV1, 'apiClientId' | 'submittedAt'>;
  /** The sender's identifier to find it again by; from `If-None-Exist` or the resource's first identifier. */
  identifier: { system: string; value: string } | null;
}

/** Reads a Patient resource as Phos keeps it; 400 with the path of what is missing or wrong. */
export function parsePatient(resource: unknown, where = 'Patient'): Submission {
  const parsed = incomingPatient.safeParse(resource);
  if (!parsed.success) throw invalid(parsed.error, where);
  const { name, birthDate, telecom = [], identifier = [] } = parsed.data;
  const [official] = name;
  const contact = (system: string) => telecom.find((entry) => entry.system === system)?.value?.trim() || null;
  const [first] = identifier;
  return {
    patient: {
      firstName: official?.given.join(' ') ?? '',
      lastName: official?.family ?? '',
      dateOfBirth: birthDate,
      email: contact('email'),
      phone: contact('phone'),
      identifier: first ? { system: first.system, value: first.value } : null,
    },
    identifier: first ? { system: first.system, value: first.value } : null,
  };
}

/** `If-None-Exist: identifier=system|value`: the one condition Phos takes. */
export function parseIfNoneExist(header: string | undefined): { system: string; value: string } | null {
  if (header === undefined || header.trim() === '') return null;
  const match = /^identifier=([^|&]+)\|([^&]+)$/.exec(header.trim());
  if (!match?.[1] || !match[2]) throw new FhirError(400, 'not-supported', 'If-None-Exist takes identifier=<system>|<value> only');
  return { system: decodeURIComponent(match[1]), value: decodeURIComponent(match[2]) };
}

/** The Patients of a transaction (or batch) Bundle, each a POST to `Patient`. */
export function parseBundle(resource: unknown): { bundleId: string | null; entries: Submission[] } {
  const bundle = resource as Partial<Bundle> | null;
  if (bundle?.resourceType !== 'Bundle' || (bundle.type !== 'transaction' && bundle.type !== 'batch')) {
    throw new FhirError(400, 'invalid', 'Send a Bundle of type transaction (or batch)');
  }
  const entries = bundle.entry ?? [];
  if (entries.length === 0) throw new FhirError(400, 'invalid', 'The Bundle has no entries');
  if (entries.length > MAX_BUNDLE_ENTRIES) throw new FhirError(400, 'too-costly', `At most ${MAX_BUNDLE_ENTRIES} entries per Bundle`);
  return {
    bundleId: typeof bundle.id === 'string' && bundle.id !== '' ? bundle.id.slice(0, 64) : null,
    entries: entries.map((entry: BundleEntry, index) => {
      if (entry.request?.method !== 'POST' || entry.request.url !== 'Patient') {
        throw new FhirError(400, 'not-supported', `entry ${index}: Phos takes POST Patient entries only`);
      }
      const submission = parsePatient(entry.resource, `entry ${index}`);
      const condition = parseIfNoneExist(entry.request.ifNoneExist);
      return condition ? { ...submission, identifier: condition } : submission;
    }),
  };
}

/** One submission's registration, and the patient it already has when it was sent before. */
export interface Submitted {
  registrationId: string;
  /** True when this request sent it; false when an earlier one did (same identifier or Bundle entry). */
  created: boolean;
}

/**
 * Puts each Patient on the same path as a walk-in: an outbox row in this transaction, which the
 * relay hands to the registration worker. A Patient whose identifier (or Bundle entry) was sent
 * before is not sent again: its earlier registration answers for it. Returns the batch (for the
 * status URL) and each entry's registration, in order.
 */
export async function submitPatients(
  tx: Db,
  client: SystemClient,
  submissions: readonly Submission[],
  options: { bundleId: string | null; requestId: string },
): Promise<{ batchId: string; submitted: Submitted[] }> {
  const batchId = randomUUID();
  const submitted: Submitted[] = [];
  for (const [index, submission] of submissions.entries()) {
    const earlier = await findEarlier(tx, client, submission, options.bundleId, index);
    if (earlier) {
      submitted.push({ registrationId: earlier, created: false });
      continue;
    }
    const payload = {
      ...submission.patient,
      identifier: submission.identifier,
      apiClientId: client.id,
      submittedAt: new Date().toISOString(),
    };
    const registrationId = await writeOutbox(tx, 'patient.submitted', payload, options.requestId);
    // Two requests sending the same identifier at once: the unique index lets one through.
    const [row] = await tx
      .insert(fhirSubmissions)
      .values({
        registrationId,
        apiClientId: client.id,
        identifierSystem: submission.identifier?.system ?? null,
        identifierValue: submission.identifier?.value ?? null,
        bundleId: options.bundleId,
        bundleEntry: options.bundleId === null ? null : index,
      })
      .onConflictDoNothing()
      .returning({ registrationId: fhirSubmissions.registrationId });
    if (!row) throw new FhirError(409, 'conflict', `entry ${index}: the same patient is being sent by another request; retry`);
    submitted.push({ registrationId, created: true });
  }
  await tx
    .insert(fhirSubmissionBatches)
    .values(submitted.map(({ registrationId }, position) => ({ batchId, position, registrationId, apiClientId: client.id })));
  return { batchId, submitted };
}

async function findEarlier(
  tx: Db,
  client: SystemClient,
  submission: Submission,
  bundleId: string | null,
  index: number,
): Promise<string | null> {
  if (bundleId !== null) {
    const [same] = await tx
      .select({ registrationId: fhirSubmissions.registrationId })
      .from(fhirSubmissions)
      .where(
        and(eq(fhirSubmissions.apiClientId, client.id), eq(fhirSubmissions.bundleId, bundleId), eq(fhirSubmissions.bundleEntry, index)),
      );
    if (same) return same.registrationId;
  }
  if (submission.identifier) {
    const [same] = await tx
      .select({ registrationId: fhirSubmissions.registrationId })
      .from(fhirSubmissions)
      .where(
        and(
          eq(fhirSubmissions.identifierSystem, submission.identifier.system),
          eq(fhirSubmissions.identifierValue, submission.identifier.value),
        ),
      );
    if (same) return same.registrationId;
  }
  return null;
}

/** The patients the worker has made of these registrations so far, by registration. */
export async function patientsOfRegistrations(db: Db, registrationIds: readonly string[]): Promise<Map<string, Patient>> {
  if (registrationIds.length === 0) return new Map();
  const rows = await db
    .select({ patient: patients, identifierSystem: fhirSubmissions.identifierSystem, identifierValue: fhirSubmissions.identifierValue })
    .from(patients)
    .leftJoin(fhirSubmissions, eq(fhirSubmissions.registrationId, patients.registrationId))
    .where(inArray(patients.registrationId, [...registrationIds]));
  return new Map(
    rows.flatMap(({ patient, identifierSystem, identifierValue }) =>
      patient.registrationId === null
        ? []
        : [
            [
              patient.registrationId,
              toPatient(patient, identifierSystem && identifierValue ? { system: identifierSystem, value: identifierValue } : null),
            ],
          ],
    ),
  );
}

/** A batch's registrations in order, for its status URL; empty when the batch is unknown or another client's. */
export async function registrationsOfBatch(db: Db, client: SystemClient, batchId: string): Promise<string[]> {
  const rows = await db
    .select({ registrationId: fhirSubmissionBatches.registrationId })
    .from(fhirSubmissionBatches)
    .where(and(eq(fhirSubmissionBatches.batchId, batchId), eq(fhirSubmissionBatches.apiClientId, client.id)))
    .orderBy(fhirSubmissionBatches.position);
  return rows.map((row) => row.registrationId);
}
