import type {
  AuditEvent,
  CarePlan,
  Encounter,
  EncounterLocation,
  EncounterParticipant,
  EncounterStatusHistory,
  Location,
  Observation,
  Patient,
  Practitioner,
  Provenance,
  Reference,
} from '@medplum/fhirtypes';
import type { CarePlanStatus, QueueStatus } from '@phos/shared';
import type { auditLog } from '../audit/schema.js';
import type { carePlans } from '../care-plans/schema.js';
import type { users } from '../identity/schema.js';
import type { patients } from '../patients/schema.js';
import type { queueEntries, queueTransitions, rooms, triageAssessments } from '../queue/schema.js';

/** Phos's own identifiers, as FHIR identifier systems. */
export const PATIENT_ID_SYSTEM = 'urn:phos:patient-id';
/** A self-registered record that looked like this other patient; staff review it (never merged). */
export const POSSIBLE_DUPLICATE_EXTENSION = 'urn:phos:fhir:StructureDefinition:possible-duplicate-of';

/** The Emergency Severity Index level a triage gives, as the issue names it: LOINC "Generic five level triage system". */
export const TRIAGE_CODE = { system: 'http://loinc.org', code: '75616-3', display: 'Generic five level triage system' } as const;

export type PatientRow = typeof patients.$inferSelect;
export type EntryRow = typeof queueEntries.$inferSelect;
export type TransitionRow = typeof queueTransitions.$inferSelect;
export type TriageRow = typeof triageAssessments.$inferSelect;
export type CarePlanRow = typeof carePlans.$inferSelect;
export type UserRow = Pick<typeof users.$inferSelect, 'id' | 'firstName' | 'lastName' | 'role' | 'disabledAt'>;
export type RoomRow = typeof rooms.$inferSelect;
export type AuditRow = typeof auditLog.$inferSelect;

const iso = (date: Date) => date.toISOString();

type Referable = Patient | Practitioner | Location | Encounter | CarePlan;

/** A literal reference to one of Phos's resources, typed as the resource it points at. */
export function reference<T extends Referable['resourceType']>(
  type: T,
  id: string,
  display?: string | null,
): Reference<Extract<Referable, { resourceType: T }>> {
  return display ? { reference: `${type}/${id}`, display } : { reference: `${type}/${id}` };
}

/** A Patient; `sentAs` is the identifier the system that sent it over FHIR gave it, if any. */
export function toPatient(row: PatientRow, sentAs: { system: string; value: string } | null = null): Patient {
  const telecom = [
    ...(row.email ? [{ system: 'email' as const, value: row.email }] : []),
    ...(row.phone ? [{ system: 'phone' as const, value: row.phone }] : []),
  ];
  return {
    resourceType: 'Patient',
    id: row.id,
    meta: { lastUpdated: iso(row.identityVerifiedAt ?? row.createdAt) },
    identifier: [{ use: 'usual', system: PATIENT_ID_SYSTEM, value: row.id }, ...(sentAs ? [{ use: 'secondary' as const, ...sentAs }] : [])],
    active: true,
    name: [{ use: 'official', family: row.lastName, given: [row.firstName], text: `${row.firstName} ${row.lastName}` }],
    birthDate: row.dateOfBirth,
    ...(telecom.length > 0 ? { telecom } : {}),
    ...(row.possibleDuplicateOf
      ? { extension: [{ url: POSSIBLE_DUPLICATE_EXTENSION, valueReference: reference('Patient', row.possibleDuplicateOf) }] }
      : {}),
  };
}

/** Phos's queue statuses as FHIR R4 Encounter statuses. */
export const encounterStatusOf: Record<QueueStatus, Encounter['status']> = {
  waiting: 'arrived',
  in_triage: 'triaged',
  with_clinician: 'in-progress',
  done: 'finished',
  left: 'cancelled',
};

/** The queue statuses a FHIR Encounter status search names. */
export function queueStatusesFor(status: string): QueueStatus[] {
  return (Object.entries(encounterStatusOf) as [QueueStatus, string][]).filter(([, fhir]) => fhir === status).map(([queue]) => queue);
}

const ended = (status: QueueStatus) => status === 'done' || status === 'left';

interface Assignment {
  id: string;
  name: string;
  start: Date;
  end?: Date;
}

/**
 * The visit as FHIR sees it: its statuses over time (every change, undos included, as they
 * happened), the clinicians and rooms it had with their periods, and the whole visit's period.
 */
export function toEncounter(entry: EntryRow, history: readonly TransitionRow[]): Encounter {
  const changes = [...history].sort((a, b) => a.at.getTime() - b.at.getTime());
  const statusHistory: EncounterStatusHistory[] = [];
  const clinicians: Assignment[] = [];
  const places: Assignment[] = [];
  let status: QueueStatus = 'waiting';
  let since = entry.arrivedAt;
  const close = (list: Assignment[], at: Date) => {
    const open = list.at(-1);
    if (open && !open.end) open.end = at;
  };
  for (const change of changes) {
    statusHistory.push({ status: encounterStatusOf[status], period: { start: iso(since), end: iso(change.at) } });
    status = change.toStatus;
    since = change.at;
    if (status === 'with_clinician') {
      if (change.clinicianId && clinicians.at(-1)?.id !== change.clinicianId) {
        close(clinicians, change.at);
        clinicians.push({ id: change.clinicianId, name: change.clinicianName ?? '', start: change.at });
      }
      if (change.roomId && places.at(-1)?.id !== change.roomId) {
        close(places, change.at);
        places.push({ id: change.roomId, name: change.roomName ?? '', start: change.at });
      }
    } else {
      // Back to waiting or triage lets go of the clinician and room; the end of the visit ends them.
      close(clinicians, change.at);
      close(places, change.at);
    }
  }
  const finishedAt = ended(status) ? since : undefined;
  statusHistory.push({
    status: encounterStatusOf[status],
    period: finishedAt ? { start: iso(since), end: iso(since) } : { start: iso(since) },
  });

  const participant: EncounterParticipant[] = clinicians.map((clinician) => ({
    type: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'ATND', display: 'attender' }],
      },
    ],
    individual: reference('Practitioner', clinician.id, clinician.name),
    period: clinician.end ? { start: iso(clinician.start), end: iso(clinician.end) } : { start: iso(clinician.start) },
  }));
  const location: EncounterLocation[] = places.map((place) => ({
    location: reference('Location', place.id, place.name),
    status: place.end ? 'completed' : 'active',
    period: place.end ? { start: iso(place.start), end: iso(place.end) } : { start: iso(place.start) },
  }));

  return {
    resourceType: 'Encounter',
    id: entry.id,
    meta: { versionId: String(entry.version), lastUpdated: iso(entry.updatedAt) },
    status: encounterStatusOf[entry.status],
    statusHistory,
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
    ...(entry.acuity
      ? {
          priority: {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActPriority', code: entry.acuity <= 2 ? 'EM' : 'R' }],
            text: `ESI ${entry.acuity}`,
          },
        }
      : {}),
    subject: reference('Patient', entry.patientId, `${entry.firstName} ${entry.lastName}`),
    ...(participant.length > 0 ? { participant } : {}),
    period: finishedAt ? { start: iso(entry.arrivedAt), end: iso(finishedAt) } : { start: iso(entry.arrivedAt) },
    ...(location.length > 0 ? { location } : {}),
    ...(entry.status === 'left'
      ? {
          hospitalization: {
            dischargeDisposition: {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/discharge-disposition', code: 'aadvice', display: 'Left against advice' },
              ],
              text: 'Left without being seen',
            },
          },
        }
      : {}),
  };
}

export function toObservation(triage: TriageRow, entry: Pick<EntryRow, 'id' | 'patientId'>): Observation {
  return {
    resourceType: 'Observation',
    id: triage.id,
    meta: { lastUpdated: iso(triage.at) },
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey', display: 'Survey' }] }],
    code: { coding: [{ ...TRIAGE_CODE }], text: 'Triage acuity (ESI)' },
    subject: reference('Patient', entry.patientId),
    encounter: reference('Encounter', entry.id),
    effectiveDateTime: iso(triage.at),
    issued: iso(triage.at),
    performer: [reference('Practitioner', triage.byId, triage.byName)],
    valueInteger: triage.acuity,
    ...(triage.note ? { note: [{ text: triage.note }] } : {}),
  };
}

/** Phos's care plan statuses as FHIR's: a rejected plan and a replaced one are both revoked. */
export const carePlanStatusOf: Record<CarePlanStatus, CarePlan['status']> = {
  draft: 'draft',
  active: 'active',
  rejected: 'revoked',
  superseded: 'revoked',
};

export function carePlanStatusesFor(status: string): CarePlanStatus[] {
  return (Object.entries(carePlanStatusOf) as [CarePlanStatus, string][]).filter(([, fhir]) => fhir === status).map(([phos]) => phos);
}

export function toCarePlan(plan: CarePlanRow, encounterId: string | null): CarePlan {
  const notes = [
    ...(plan.status === 'rejected' && plan.rejectionReason ? [{ text: `Rejected: ${plan.rejectionReason}` }] : []),
    ...(plan.status === 'superseded' && plan.supersededAt ? [{ text: 'Replaced by a newer version', time: iso(plan.supersededAt) }] : []),
  ];
  const activityStatus = plan.status === 'active' ? 'in-progress' : plan.status === 'draft' ? 'not-started' : 'cancelled';
  return {
    resourceType: 'CarePlan',
    id: plan.id,
    meta: { lastUpdated: iso(plan.supersededAt ?? plan.rejectedAt ?? plan.approvedAt ?? plan.draftedAt) },
    ...(plan.replacesPlanId ? { replaces: [reference('CarePlan', plan.replacesPlanId)] } : {}),
    status: carePlanStatusOf[plan.status],
    intent: 'plan',
    title: plan.title,
    description: plan.goals,
    subject: reference('Patient', plan.patientId),
    ...(encounterId ? { encounter: reference('Encounter', encounterId) } : {}),
    ...(plan.approvedAt ? { period: { start: iso(plan.approvedAt) } } : {}),
    created: iso(plan.draftedAt),
    author: reference('Practitioner', plan.draftedById, plan.draftedByName),
    activity: [{ detail: { status: activityStatus, description: plan.instructions } }],
    ...(notes.length > 0 ? { note: notes } : {}),
  };
}

/** The approval of a care plan version: who signed it, and when. Its id is the plan's. */
export function toProvenance(plan: CarePlanRow & { approvedAt: Date; approvedById: string }): Provenance {
  return {
    resourceType: 'Provenance',
    id: plan.id,
    target: [reference('CarePlan', plan.id)],
    recorded: iso(plan.approvedAt),
    activity: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'LA', display: 'legal authenticator' }],
      text: 'sign',
    },
    agent: [
      {
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'verifier', display: 'Verifier' }],
        },
        who: reference('Practitioner', plan.approvedById, plan.approvedByName),
      },
    ],
  };
}

export function toPractitioner(user: UserRow): Practitioner {
  return {
    resourceType: 'Practitioner',
    id: user.id,
    active: user.disabledAt === null,
    name: [{ family: user.lastName, given: [user.firstName], text: `${user.firstName} ${user.lastName}` }],
  };
}

export function toLocation(room: RoomRow): Location {
  return {
    resourceType: 'Location',
    id: room.id,
    status: room.archivedAt ? 'inactive' : 'active',
    name: room.name,
    mode: 'instance',
    physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 'ro', display: 'Room' }] },
  };
}

/** Phos's user ids, for agents that may be staff or patients (an AuditEvent's). */
export const USER_ID_SYSTEM = 'urn:phos:user-id';

/**
 * An audit row: who called what, from where, about which patients, with what outcome. The row
 * names a procedure (or a FHIR interaction), not whether it read or wrote: each is an "execute".
 */
export function toAuditEvent(row: AuditRow): AuditEvent {
  return {
    resourceType: 'AuditEvent',
    id: row.id.toString(),
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [{ system: 'urn:phos:audit-action', code: row.action }],
    action: 'E',
    recorded: iso(row.at),
    outcome: row.outcome === 'allowed' ? '0' : '4',
    agent: [
      {
        ...(row.userId
          ? { who: { identifier: { system: USER_ID_SYSTEM, value: row.userId }, ...(row.role ? { display: row.role } : {}) } }
          : {}),
        ...(row.role ? { role: [{ text: row.role }] } : {}),
        requestor: true,
        ...(row.ip ? { network: { address: row.ip, type: '2' as const } } : {}),
      },
    ],
    source: { observer: { display: 'Phos' } },
    ...(row.patientIds.length > 0 ? { entity: row.patientIds.map((id) => ({ what: reference('Patient', id) })) } : {}),
  };
}
