import type { Resource } from '@medplum/fhirtypes';
import { and, asc, count, desc, eq, gte, ilike, inArray, isNotNull, lt, ne, or, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { activeStatuses } from '@phos/shared';
import { auditLog } from '../audit/schema.js';
import { carePlans } from '../care-plans/schema.js';
import type { Db } from '../db/client.js';
import { users } from '../identity/schema.js';
import { patients } from '../patients/schema.js';
import { queueEntries, queueTransitions, rooms, triageAssessments } from '../queue/schema.js';
import {
  carePlanStatusesFor,
  PATIENT_ID_SYSTEM,
  queueStatusesFor,
  toAuditEvent,
  toCarePlan,
  toEncounter,
  toLocation,
  toObservation,
  toPatient,
  toPractitioner,
  toProvenance,
  type CarePlanRow,
} from './mapping.js';
import { badParameter, notFound } from './outcome.js';
import { fhirSubmissions } from './schema.js';
import { anyOf, checkParameters, isId, paging, parseDate, referencedId, single, type DateRange, type SearchParams } from './search.js';

export const resourceTypes = [
  'Patient',
  'Encounter',
  'Observation',
  'CarePlan',
  'Provenance',
  'Practitioner',
  'Location',
  'AuditEvent',
] as const;
export type ResourceType = (typeof resourceTypes)[number];

export function isResourceType(value: string): value is ResourceType {
  return (resourceTypes as readonly string[]).includes(value);
}

/** Narrows what a reader sees: a Patient reads their own records only, and only active care plans. */
export interface Restriction {
  patientId?: string;
  activeCarePlansOnly?: boolean;
}

/** One page of a search: the matches, how many there are in all, what `_include` brought, and whose data it is. */
export interface SearchPage {
  resources: Resource[];
  total: number;
  included: Resource[];
  /** Every patient the page shows data of, for the audit trail. */
  patientIds: string[];
  count: number;
  offset: number;
}

/** The search parameters each type supports, as the CapabilityStatement lists them. */
export const searchParameters: Record<ResourceType, { name: string; type: 'token' | 'string' | 'date' | 'reference' }[]> = {
  Patient: [
    { name: '_id', type: 'token' },
    { name: 'identifier', type: 'token' },
    { name: 'name', type: 'string' },
    { name: 'birthdate', type: 'date' },
  ],
  Encounter: [
    { name: '_id', type: 'token' },
    { name: 'patient', type: 'reference' },
    { name: 'status', type: 'token' },
    { name: 'date', type: 'date' },
  ],
  Observation: [
    { name: '_id', type: 'token' },
    { name: 'encounter', type: 'reference' },
    { name: 'patient', type: 'reference' },
  ],
  CarePlan: [
    { name: '_id', type: 'token' },
    { name: 'patient', type: 'reference' },
    { name: 'status', type: 'token' },
  ],
  Provenance: [
    { name: '_id', type: 'token' },
    { name: 'target', type: 'reference' },
  ],
  Practitioner: [{ name: '_id', type: 'token' }],
  Location: [{ name: '_id', type: 'token' }],
  AuditEvent: [
    { name: '_id', type: 'token' },
    { name: 'patient', type: 'reference' },
    { name: 'date', type: 'date' },
  ],
};

function dateCondition(column: PgColumn, { prefix, start, end }: DateRange): SQL | undefined {
  switch (prefix) {
    case 'eq':
      return and(gte(column, start), lt(column, end));
    case 'ne':
      return or(lt(column, start), gte(column, end));
    case 'lt':
      return lt(column, start);
    case 'le':
      return lt(column, end);
    case 'gt':
      return gte(column, end);
    case 'ge':
      return gte(column, start);
  }
}

const day = (date: Date) => date.toISOString().slice(0, 10);

function idCondition(column: PgColumn, params: SearchParams): SQL[] {
  return anyOf(params, '_id').map((ids) => {
    const valid = ids.filter(isId);
    return valid.length === 0 ? sql`false` : inArray(column, valid);
  });
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (match) => `\\${match}`);
}

/** Patients another system sent with this identifier (any system when `system` is empty). */
function sentWith(system: string, value: string): SQL {
  const sameSystem = system === '' ? sql`true` : eq(fhirSubmissions.identifierSystem, system);
  return sql`${patients.registrationId} in (select ${fhirSubmissions.registrationId} from ${fhirSubmissions} where ${fhirSubmissions.identifierValue} = ${value} and ${sameSystem})`;
}

async function patientSearch(db: Db, params: SearchParams, restriction: Restriction, count_: number, offset: number) {
  const where: SQL[] = idCondition(patients.id, params);
  if (restriction.patientId) where.push(eq(patients.id, restriction.patientId));
  for (const options of anyOf(params, 'identifier')) {
    const ids = options.map((option) => {
      const bar = option.indexOf('|');
      const system = bar === -1 ? '' : option.slice(0, bar);
      const value = option.slice(bar + 1);
      // Phos's own id, or the identifier the system that sent the patient gave it.
      const own = (system === '' || system === PATIENT_ID_SYSTEM) && isId(value) ? eq(patients.id, value) : undefined;
      const sent = system !== PATIENT_ID_SYSTEM && value !== '' ? sentWith(system, value) : undefined;
      return or(own, sent) ?? sql`false`;
    });
    where.push(or(...ids) ?? sql`false`);
  }
  for (const [name, values] of params) {
    if (!name.startsWith('name')) continue;
    const modifier = name.split(':')[1];
    for (const value of values) {
      const options = value.split(',').map((option) => option.trim());
      where.push(
        or(
          ...options.map((option) => {
            if (option === '') throw badParameter(`'${name}' has an empty value`);
            const pattern =
              modifier === 'exact' ? escapeLike(option) : modifier === 'contains' ? `%${escapeLike(option)}%` : `${escapeLike(option)}%`;
            return modifier === 'exact'
              ? or(eq(patients.firstName, option), eq(patients.lastName, option))
              : or(ilike(patients.firstName, pattern), ilike(patients.lastName, pattern));
          }),
        ) ?? sql`false`,
      );
    }
  }
  for (const value of params.get('birthdate') ?? []) {
    const range = parseDate(value, 'birthdate');
    const { start, end } = range;
    const column = patients.dateOfBirth;
    const [from, to] = [day(start), day(end)];
    const condition = {
      eq: and(gte(column, from), lt(column, to)),
      ne: or(lt(column, from), gte(column, to)),
      lt: lt(column, from),
      le: lt(column, to),
      gt: gte(column, to),
      ge: gte(column, from),
    }[range.prefix];
    if (condition) where.push(condition);
  }
  const filter = and(...where);
  const [rows, [total]] = await Promise.all([
    db
      .select({ patient: patients, system: fhirSubmissions.identifierSystem, value: fhirSubmissions.identifierValue })
      .from(patients)
      .leftJoin(fhirSubmissions, eq(fhirSubmissions.registrationId, patients.registrationId))
      .where(filter)
      .orderBy(asc(patients.registeredAt), asc(patients.id))
      .limit(count_)
      .offset(offset),
    db.select({ n: count() }).from(patients).where(filter),
  ]);
  return {
    resources: rows.map(({ patient, system, value }) => toPatient(patient, system !== null && value !== null ? { system, value } : null)),
    total: total?.n ?? 0,
    patientIds: rows.map((row) => row.patient.id),
  };
}

async function transitionsOf(db: Db, entryIds: readonly string[]) {
  if (entryIds.length === 0) return new Map<string, (typeof queueTransitions.$inferSelect)[]>();
  const rows = await db
    .select()
    .from(queueTransitions)
    .where(inArray(queueTransitions.entryId, [...entryIds]))
    .orderBy(asc(queueTransitions.at), asc(queueTransitions.id));
  const byEntry = new Map<string, (typeof rows)[number][]>();
  for (const row of rows) byEntry.set(row.entryId, [...(byEntry.get(row.entryId) ?? []), row]);
  return byEntry;
}

async function encounterSearch(db: Db, params: SearchParams, restriction: Restriction, count_: number, offset: number) {
  const where: SQL[] = idCondition(queueEntries.id, params);
  if (restriction.patientId) where.push(eq(queueEntries.patientId, restriction.patientId));
  for (const options of anyOf(params, 'patient')) {
    where.push(
      inArray(
        queueEntries.patientId,
        options.map((option) => referencedId(option, 'Patient', 'patient')),
      ),
    );
  }
  for (const options of anyOf(params, 'status')) {
    const statuses = options.flatMap(queueStatusesFor);
    where.push(statuses.length === 0 ? sql`false` : inArray(queueEntries.status, statuses));
  }
  for (const value of params.get('date') ?? []) {
    const condition = dateCondition(queueEntries.arrivedAt, parseDate(value, 'date'));
    if (condition) where.push(condition);
  }
  const sort = single(params, '_sort') ?? '-date';
  if (sort !== 'date' && sort !== '-date') throw badParameter(`Encounter can be sorted by 'date' or '-date' only`);
  const order =
    sort === 'date' ? [asc(queueEntries.arrivedAt), asc(queueEntries.id)] : [desc(queueEntries.arrivedAt), desc(queueEntries.id)];
  const filter = and(...where);
  const [rows, [total]] = await Promise.all([
    db
      .select()
      .from(queueEntries)
      .where(filter)
      .orderBy(...order)
      .limit(count_)
      .offset(offset),
    db.select({ n: count() }).from(queueEntries).where(filter),
  ]);
  const history = await transitionsOf(
    db,
    rows.map((row) => row.id),
  );
  const resources = rows.map((row) => toEncounter(row, history.get(row.id) ?? []));
  let included: Resource[] = [];
  const include = params.get('_include') ?? [];
  for (const value of include) if (value !== 'Encounter:patient') throw badParameter(`_include supports 'Encounter:patient' only`);
  if (include.length > 0 && rows.length > 0) {
    const ids = [...new Set(rows.map((row) => row.patientId))];
    included = (await db.select().from(patients).where(inArray(patients.id, ids))).map((row) => toPatient(row));
  }
  return { resources, included, total: total?.n ?? 0, patientIds: [...new Set(rows.map((row) => row.patientId))] };
}

async function observationSearch(db: Db, params: SearchParams, restriction: Restriction, count_: number, offset: number) {
  const where: SQL[] = idCondition(triageAssessments.id, params);
  if (restriction.patientId) where.push(eq(queueEntries.patientId, restriction.patientId));
  for (const options of anyOf(params, 'encounter')) {
    where.push(
      inArray(
        triageAssessments.entryId,
        options.map((option) => referencedId(option, 'Encounter', 'encounter')),
      ),
    );
  }
  for (const options of anyOf(params, 'patient')) {
    where.push(
      inArray(
        queueEntries.patientId,
        options.map((option) => referencedId(option, 'Patient', 'patient')),
      ),
    );
  }
  const filter = and(...where);
  const [rows, [total]] = await Promise.all([
    db
      .select({ triage: triageAssessments, entry: { id: queueEntries.id, patientId: queueEntries.patientId } })
      .from(triageAssessments)
      .innerJoin(queueEntries, eq(queueEntries.id, triageAssessments.entryId))
      .where(filter)
      .orderBy(asc(triageAssessments.at), asc(triageAssessments.id))
      .limit(count_)
      .offset(offset),
    db.select({ n: count() }).from(triageAssessments).innerJoin(queueEntries, eq(queueEntries.id, triageAssessments.entryId)).where(filter),
  ]);
  return {
    resources: rows.map((row) => toObservation(row.triage, row.entry)),
    total: total?.n ?? 0,
    patientIds: [...new Set(rows.map((row) => row.entry.patientId))],
  };
}

/** The visit each plan was drafted in: the patient's queue entry that was open when it was drafted. */
async function encountersOfPlans(db: Db, plans: readonly CarePlanRow[]): Promise<Map<string, string>> {
  if (plans.length === 0) return new Map();
  const entries = await db
    .select({
      id: queueEntries.id,
      patientId: queueEntries.patientId,
      arrivedAt: queueEntries.arrivedAt,
      status: queueEntries.status,
      statusChangedAt: queueEntries.statusChangedAt,
    })
    .from(queueEntries)
    .where(inArray(queueEntries.patientId, [...new Set(plans.map((plan) => plan.patientId))]));
  const open = new Set<string>(activeStatuses);
  const found = new Map<string, string>();
  for (const plan of plans) {
    const during = entries
      .filter(
        (entry) =>
          entry.patientId === plan.patientId &&
          entry.arrivedAt <= plan.draftedAt &&
          (open.has(entry.status) || entry.statusChangedAt >= plan.draftedAt),
      )
      .sort((a, b) => b.arrivedAt.getTime() - a.arrivedAt.getTime())[0];
    if (during) found.set(plan.id, during.id);
  }
  return found;
}

async function carePlanSearch(db: Db, params: SearchParams, restriction: Restriction, count_: number, offset: number) {
  const where: SQL[] = idCondition(carePlans.id, params);
  if (restriction.patientId) where.push(eq(carePlans.patientId, restriction.patientId));
  if (restriction.activeCarePlansOnly) where.push(eq(carePlans.status, 'active'));
  for (const options of anyOf(params, 'patient')) {
    where.push(
      inArray(
        carePlans.patientId,
        options.map((option) => referencedId(option, 'Patient', 'patient')),
      ),
    );
  }
  for (const options of anyOf(params, 'status')) {
    const statuses = options.flatMap(carePlanStatusesFor);
    where.push(statuses.length === 0 ? sql`false` : inArray(carePlans.status, statuses));
  }
  const filter = and(...where);
  const [rows, [total]] = await Promise.all([
    db.select().from(carePlans).where(filter).orderBy(asc(carePlans.draftedAt), asc(carePlans.id)).limit(count_).offset(offset),
    db.select({ n: count() }).from(carePlans).where(filter),
  ]);
  const encounters = await encountersOfPlans(db, rows);
  return {
    resources: rows.map((row) => toCarePlan(row, encounters.get(row.id) ?? null)),
    total: total?.n ?? 0,
    patientIds: [...new Set(rows.map((row) => row.patientId))],
  };
}

async function provenanceSearch(db: Db, params: SearchParams, count_: number, offset: number) {
  const where: SQL[] = [...idCondition(carePlans.id, params), isNotNull(carePlans.approvedAt)];
  for (const options of anyOf(params, 'target')) {
    where.push(
      inArray(
        carePlans.id,
        options.map((option) => referencedId(option, 'CarePlan', 'target')),
      ),
    );
  }
  const filter = and(...where);
  const [rows, [total]] = await Promise.all([
    db.select().from(carePlans).where(filter).orderBy(asc(carePlans.approvedAt), asc(carePlans.id)).limit(count_).offset(offset),
    db.select({ n: count() }).from(carePlans).where(filter),
  ]);
  const resources = rows.flatMap((row) =>
    row.approvedAt && row.approvedById ? [toProvenance({ ...row, approvedAt: row.approvedAt, approvedById: row.approvedById })] : [],
  );
  return { resources, total: total?.n ?? 0, patientIds: [...new Set(rows.map((row) => row.patientId))] };
}

async function practitionerSearch(db: Db, params: SearchParams, count_: number, offset: number) {
  const filter = and(...idCondition(users.id, params), ne(users.role, 'Patient'));
  const columns = { id: users.id, firstName: users.firstName, lastName: users.lastName, role: users.role, disabledAt: users.disabledAt };
  const [rows, [total]] = await Promise.all([
    db.select(columns).from(users).where(filter).orderBy(asc(users.createdAt), asc(users.id)).limit(count_).offset(offset),
    db.select({ n: count() }).from(users).where(filter),
  ]);
  return { resources: rows.map(toPractitioner), total: total?.n ?? 0, patientIds: [] };
}

async function locationSearch(db: Db, params: SearchParams, count_: number, offset: number) {
  const filter = and(...idCondition(rooms.id, params));
  const [rows, [total]] = await Promise.all([
    db.select().from(rooms).where(filter).orderBy(asc(rooms.createdAt), asc(rooms.id)).limit(count_).offset(offset),
    db.select({ n: count() }).from(rooms).where(filter),
  ]);
  return { resources: rows.map(toLocation), total: total?.n ?? 0, patientIds: [] };
}

async function auditEventSearch(db: Db, params: SearchParams, count_: number, offset: number) {
  const where: SQL[] = anyOf(params, '_id').map((ids) => {
    const valid = ids.filter((id) => /^\d{1,18}$/.test(id)).map(BigInt);
    return valid.length === 0 ? sql`false` : inArray(auditLog.id, valid);
  });
  for (const options of anyOf(params, 'patient')) {
    const ids = options.map((option) => referencedId(option, 'Patient', 'patient'));
    where.push(sql`${auditLog.patientIds} && ${sql.param(ids)}::uuid[]`);
  }
  for (const value of params.get('date') ?? []) {
    const condition = dateCondition(auditLog.at, parseDate(value, 'date'));
    if (condition) where.push(condition);
  }
  const filter = and(...where);
  const [rows, [total]] = await Promise.all([
    db.select().from(auditLog).where(filter).orderBy(desc(auditLog.id)).limit(count_).offset(offset),
    db.select({ n: count() }).from(auditLog).where(filter),
  ]);
  return { resources: rows.map(toAuditEvent), total: total?.n ?? 0, patientIds: [] };
}

/** Searches one type with FHIR's parameters, within what the reader may see. */
export async function searchResources(db: Db, type: ResourceType, params: SearchParams, restriction: Restriction): Promise<SearchPage> {
  checkParameters(
    type,
    params,
    searchParameters[type].map((parameter) => parameter.name),
  );
  if (params.has('_include') && type !== 'Encounter') throw badParameter(`_include is supported on Encounter only`);
  if (params.has('_sort') && type !== 'Encounter') throw badParameter(`_sort is supported on Encounter only`);
  const { count: pageSize, offset } = paging(params);
  const found = await (() => {
    switch (type) {
      case 'Patient':
        return patientSearch(db, params, restriction, pageSize, offset);
      case 'Encounter':
        return encounterSearch(db, params, restriction, pageSize, offset);
      case 'Observation':
        return observationSearch(db, params, restriction, pageSize, offset);
      case 'CarePlan':
        return carePlanSearch(db, params, restriction, pageSize, offset);
      case 'Provenance':
        return provenanceSearch(db, params, pageSize, offset);
      case 'Practitioner':
        return practitionerSearch(db, params, pageSize, offset);
      case 'Location':
        return locationSearch(db, params, pageSize, offset);
      case 'AuditEvent':
        return auditEventSearch(db, params, pageSize, offset);
    }
  })();
  return { included: [], ...found, count: pageSize, offset };
}

/** Reads one resource by id, within what the reader may see; 404 when there is none (or none for them). */
export async function readResource(
  db: Db,
  type: ResourceType,
  id: string,
  restriction: Restriction,
): Promise<{ resource: Resource; patientIds: string[] }> {
  const valid = type === 'AuditEvent' ? /^\d{1,18}$/.test(id) : isId(id);
  if (!valid) throw notFound(type, id);
  const page = await searchResources(db, type, new Map([['_id', [id]]]), restriction);
  const [resource] = page.resources;
  if (!resource) throw notFound(type, id);
  return { resource, patientIds: page.patientIds };
}
