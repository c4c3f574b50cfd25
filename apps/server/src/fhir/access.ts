import type { User } from '@phos/shared';
import { recordAudit, type AuditActor } from '../audit/audit.js';
import type { Db } from '../db/client.js';
import { findPatientByUserId } from '../patients/patients.js';
import { forbidden } from './outcome.js';
import type { ResourceType, Restriction } from './resources.js';

/** A SMART v2 permission letter: create, read, update, delete, search. */
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

/** A system client (an EHR, a lab, an analytics job) holding a token an Admin issued. */
export interface SystemClient {
  id: string;
  name: string;
  scopes: readonly string[];
  allows(type: ResourceType, permission: Permission): boolean;
}

/** Who is reading: a signed-in person (staff, or a Patient with their record if it exists), or a system client. */
export type Reader =
  | { kind: 'staff'; user: User }
  | { kind: 'patient'; user: User; patientId: string | null; identityVerified: boolean }
  | { kind: 'system'; client: SystemClient };

export async function readerForUser(db: Db, user: User): Promise<Reader> {
  if (user.role !== 'Patient') return { kind: 'staff', user };
  const patient = await findPatientByUserId(db, user.id);
  return { kind: 'patient', user, patientId: patient?.id ?? null, identityVerified: patient?.identityVerifiedAt != null };
}

/** No patient has this id: a Patient whose record does not exist yet finds nothing. */
const NOBODY = '00000000-0000-0000-0000-000000000000';

/** What the reader may see of a type, or 403: the same rules as the web app's. */
export function restrictionFor(reader: Reader, type: ResourceType, permission: 'r' | 's'): Restriction {
  switch (reader.kind) {
    case 'staff':
      if (type === 'AuditEvent' && reader.user.role !== 'Admin') throw forbidden('The audit trail is for Admins');
      return {};
    case 'system':
      if (!reader.client.allows(type, permission))
        throw forbidden(`This client's scopes do not allow ${permission === 'r' ? 'reading' : 'searching'} ${type}`);
      return {};
    case 'patient': {
      const own = reader.patientId ?? NOBODY;
      if (type === 'Patient' || type === 'Encounter') return { patientId: own };
      // Clinical content once staff have confirmed who they are, as on their own page.
      if (type === 'CarePlan') return { patientId: reader.identityVerified ? own : NOBODY, activeCarePlansOnly: true };
      throw forbidden(`Patients read their own Patient, Encounter and CarePlan resources only`);
    }
  }
}

/** Who the audit trail names for the reader; a system client by its id in the row's detail. */
export function auditActorFor(reader: Reader, request: { ip: string | null; requestId: string }): AuditActor {
  const user = reader.kind === 'system' ? null : reader.user;
  return { userId: user?.id ?? null, role: user?.role ?? null, ip: request.ip, requestId: request.requestId };
}

export function readerDetail(reader: Reader): Record<string, string> {
  return reader.kind === 'system' ? { apiClientId: reader.client.id } : {};
}

/**
 * One audit row per FHIR interaction, exactly as a tRPC call's: who (a system client by its id
 * in the detail), from where, which patients, allowed or refused. Ids and codes only.
 */
export async function recordFhirAudit(
  db: Db,
  reader: Reader | null,
  request: { ip: string | null; requestId: string },
  entry: { action: string; outcome: 'allowed' | 'refused'; detail: Record<string, string | number>; patientIds?: readonly string[] },
): Promise<void> {
  const actor = reader ? auditActorFor(reader, request) : { userId: null, role: null, ...request };
  await recordAudit(db, actor, {
    action: entry.action,
    outcome: entry.outcome,
    patientIds: entry.patientIds ?? [],
    detail: { ...entry.detail, ...(reader ? readerDetail(reader) : {}) },
  });
}
