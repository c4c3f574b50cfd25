import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiClientInput, type User } from '@phos/shared';
import { verifyAuditChain } from '../src/audit/audit.js';
import { auditLog } from '../src/audit/schema.js';
import { authenticateApiClient, LAST_USED_STEP_MS, scopesAllow } from '../src/identity/apiClients.js';
import { apiClients } from '../src/identity/schema.js';
import { hashToken } from '../src/identity/sessions.js';
import { createContextInner } from '../src/trpc/context.js';
import { createCaller } from '../src/trpc/router.js';
import { callerFor, createPatient, createStaff, startTestPhos, trpcError, type TestPhos } from './support.js';

const DAY_MS = 86_400_000;

describe('scopesAllow', () => {
  it.each([
    [['system/Patient.rs'], 'Patient', 'r', true],
    [['system/Patient.rs'], 'Patient', 's', true],
    [['system/Patient.rs'], 'Patient', 'c', false],
    [['system/Patient.rs'], 'Encounter', 'r', false],
    [['system/Patient.c'], 'Patient', 'c', true],
    [['system/Patient.c', 'system/Encounter.rs'], 'Encounter', 's', true],
    [['system/*.rs'], 'Observation', 'r', true],
    [['system/*.rs'], 'AuditEvent', 's', true],
    [['system/*.rs'], 'Patient', 'u', false],
    [['system/*.cruds'], 'CarePlan', 'd', true],
    // v1 forms count as their v2 equals.
    [['system/Patient.read'], 'Patient', 's', true],
    [['system/Patient.read'], 'Patient', 'c', false],
    [['system/Patient.write'], 'Patient', 'u', true],
    [['system/Patient.write'], 'Patient', 'r', false],
    [['system/*.*'], 'Location', 'c', true],
    // Scopes that do not parse grant nothing.
    [['patient/Patient.rs'], 'Patient', 'r', false],
    [['user/*.cruds'], 'Patient', 'r', false],
    [['system/Patient.sr'], 'Patient', 'r', false],
    [['system/Medication.rs'], 'Medication', 'r', false],
    [['system/Patient.'], 'Patient', 'r', false],
    [['system/Patient.rs?category=x'], 'Patient', 'r', false],
    [[], 'Patient', 'r', false],
  ] as const)('%j on %s for %s: %s', (scopes, resourceType, permission, allowed) => {
    expect(scopesAllow(scopes, resourceType, permission)).toBe(allowed);
  });
});

describe('createApiClientInput', () => {
  it('stores v1 scopes in their v2 spelling, once each', () => {
    const parsed = createApiClientInput.parse({
      name: 'Lab',
      scopes: ['system/Patient.read', 'system/Patient.rs', 'system/Encounter.write', 'system/*.*', ' system/Observation.s '],
    });
    expect(parsed.scopes).toEqual(['system/Patient.rs', 'system/Encounter.cud', 'system/*.cruds', 'system/Observation.s']);
  });

  it.each([
    [[]],
    [['system/Patient.sr']],
    [['system/Patient.x']],
    [['system/Medication.rs']],
    [['patient/Patient.rs']],
    [['system/Patient']],
  ])('refuses %j', (scopes) => {
    expect(createApiClientInput.safeParse({ name: 'Lab', scopes }).success).toBe(false);
  });

  it('takes an expiry in the future, at most two years ahead', () => {
    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    const parse = (expiresAt: string) => createApiClientInput.safeParse({ name: 'Lab', scopes: ['system/Patient.rs'], expiresAt }).success;
    expect(parse(at(DAY_MS))).toBe(true);
    expect(parse(at(729 * DAY_MS))).toBe(true);
    expect(parse(at(-60_000))).toBe(false);
    expect(parse(at(731 * DAY_MS))).toBe(false);
    expect(parse('next week')).toBe(false);
  });
});

describe('API clients', () => {
  let phos: TestPhos;
  let admin: User;

  beforeAll(async () => {
    phos = await startTestPhos();
    admin = await createStaff(phos, 'Admin', { firstName: 'Ada', lastName: 'Keymaker' });
  });
  afterAll(() => phos.cleanup());

  /** An Admin's caller in a request of its own, so its audit rows can be found by request id. */
  function asAdmin() {
    const requestId = randomUUID();
    return { caller: createCaller(createContextInner({ services: phos.services, user: admin, requestId })), requestId };
  }

  async function create(scopes: string[], expiresAt?: string) {
    return asAdmin().caller.apiClients.create({ name: `Client ${randomUUID().slice(0, 6)}`, scopes, expiresAt });
  }

  async function rowOf(id: string) {
    const [row] = await phos.services.db.select().from(apiClients).where(eq(apiClients.id, id));
    return row!;
  }

  it('creates a client whose token is answered once and stored only as its hash', async () => {
    const { caller, requestId } = asAdmin();
    const { client, token } = await caller.apiClients.create({
      name: 'Lab results feed',
      scopes: ['system/Patient.read', 'system/Encounter.rs'],
    });
    expect(token).toMatch(/^phos_[A-Za-z0-9_-]{43}$/);
    expect(client).toMatchObject({
      name: 'Lab results feed',
      scopes: ['system/Patient.rs', 'system/Encounter.rs'],
      status: 'active',
      createdBy: admin.id,
      createdByName: 'Ada Keymaker',
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
      tokenPrefix: token.slice(0, 11),
    });
    expect(JSON.stringify(client)).not.toContain(token);

    const row = await rowOf(client.id);
    expect(row.tokenHash).toBe(hashToken(token));
    expect(JSON.stringify(row)).not.toContain(token);

    const { clients } = await caller.apiClients.list();
    const listed = clients.find((each) => each.id === client.id);
    expect(listed).toEqual(client);
    expect(JSON.stringify(clients)).not.toContain(token);
    expect(JSON.stringify(clients)).not.toContain(row.tokenHash);

    const [audit] = await phos.services.db.select().from(auditLog).where(eq(auditLog.requestId, requestId));
    expect(audit).toMatchObject({
      action: 'apiClients.create',
      outcome: 'allowed',
      userId: admin.id,
      patientIds: [],
      detail: { apiClientId: client.id, scopes: 'system/Patient.rs system/Encounter.rs' },
    });
  });

  it('gives two clients two different tokens', async () => {
    const [a, b] = await Promise.all([create(['system/Patient.rs']), create(['system/Patient.rs'])]);
    expect(a.token).not.toBe(b.token);
  });

  it('authenticates the right token, and no other', async () => {
    const { client, token } = await create(['system/Patient.rs', 'system/Patient.c']);
    expect(await authenticateApiClient(phos.services.db, token)).toEqual({
      id: client.id,
      name: client.name,
      scopes: ['system/Patient.rs', 'system/Patient.c'],
      createdBy: admin.id,
    });
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    for (const wrong of [`${token.slice(0, -1)}${last}`, token.slice(5), `${token}x`, '', 'Bearer ' + token, `phos_${'A'.repeat(43)}`]) {
      expect(await authenticateApiClient(phos.services.db, wrong), wrong).toBeNull();
    }
  });

  it('refuses a revoked client, and records the revocation', async () => {
    const { client, token } = await create(['system/*.rs']);
    expect(await authenticateApiClient(phos.services.db, token)).not.toBeNull();
    const { caller, requestId } = asAdmin();
    const { client: revoked } = await caller.apiClients.revoke({ id: client.id });
    expect(revoked).toMatchObject({ id: client.id, status: 'revoked' });
    expect(Date.parse(revoked.revokedAt!)).toBeLessThanOrEqual(Date.now());
    expect(await authenticateApiClient(phos.services.db, token)).toBeNull();
    expect((await rowOf(client.id)).revokedBy).toBe(admin.id);

    const [audit] = await phos.services.db.select().from(auditLog).where(eq(auditLog.requestId, requestId));
    expect(audit).toMatchObject({
      action: 'apiClients.revoke',
      outcome: 'allowed',
      userId: admin.id,
      detail: { apiClientId: client.id, scopes: 'system/*.rs' },
    });

    // Again: nothing changes, the first revocation's time stays.
    const { client: again } = await asAdmin().caller.apiClients.revoke({ id: client.id });
    expect(again.revokedAt).toBe(revoked.revokedAt);
  });

  it('refuses an expired client, and lists it as expired', async () => {
    const { client, token } = await create(['system/Patient.rs'], new Date(Date.now() + DAY_MS).toISOString());
    expect(client.status).toBe('active');
    expect(await authenticateApiClient(phos.services.db, token)).not.toBeNull();
    await phos.services.db
      .update(apiClients)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(apiClients.id, client.id));
    expect(await authenticateApiClient(phos.services.db, token)).toBeNull();
    const { clients } = await asAdmin().caller.apiClients.list();
    expect(clients.find((each) => each.id === client.id)?.status).toBe('expired');
  });

  it('moves last_used_at, at most once a minute', async () => {
    const { client, token } = await create(['system/Patient.rs']);
    expect((await rowOf(client.id)).lastUsedAt).toBeNull();
    const before = Date.now();
    await authenticateApiClient(phos.services.db, token);
    const first = (await rowOf(client.id)).lastUsedAt!;
    expect(first.getTime()).toBeGreaterThanOrEqual(before - 1000);

    // A burst of calls right after writes nothing.
    await Promise.all(Array.from({ length: 5 }, () => authenticateApiClient(phos.services.db, token)));
    expect((await rowOf(client.id)).lastUsedAt).toEqual(first);

    // Once the last write is a minute old, the next call writes again.
    const aMinuteAgo = new Date(Date.now() - LAST_USED_STEP_MS - 1000);
    await phos.services.db.update(apiClients).set({ lastUsedAt: aMinuteAgo }).where(eq(apiClients.id, client.id));
    await authenticateApiClient(phos.services.db, token);
    expect((await rowOf(client.id)).lastUsedAt!.getTime()).toBeGreaterThan(aMinuteAgo.getTime() + LAST_USED_STEP_MS);
    const { clients } = await asAdmin().caller.apiClients.list();
    expect(clients.find((each) => each.id === client.id)?.lastUsedAt).not.toBeNull();
  });

  it('refuses everyone but Admins, and anyone signed out', async () => {
    const { client } = await create(['system/Patient.rs']);
    const provider = await createStaff(phos, 'Provider');
    const patient = await createPatient(phos);
    for (const user of [provider, patient]) {
      const caller = callerFor(phos, user);
      for (const call of [
        caller.apiClients.list(),
        caller.apiClients.create({ name: 'Sneaky', scopes: ['system/*.cruds'] }),
        caller.apiClients.revoke({ id: client.id }),
      ]) {
        expect((await trpcError(call)).code).toBe('FORBIDDEN');
      }
    }
    expect((await trpcError(callerFor(phos).apiClients.list())).code).toBe('UNAUTHORIZED');
    expect((await rowOf(client.id)).revokedAt).toBeNull();
    const { clients } = await asAdmin().caller.apiClients.list();
    expect(clients.map((each) => each.name)).not.toContain('Sneaky');
  });

  it('answers bad input with field errors and NOT_FOUND for an unknown client, recording the refusal', async () => {
    const bad = await trpcError(asAdmin().caller.apiClients.create({ name: '', scopes: ['system/Patient.sr'] }));
    expect(bad.code).toBe('BAD_REQUEST');

    const { caller, requestId } = asAdmin();
    const unknown = randomUUID();
    expect((await trpcError(caller.apiClients.revoke({ id: unknown }))).code).toBe('NOT_FOUND');
    const [audit] = await phos.services.db.select().from(auditLog).where(eq(auditLog.requestId, requestId));
    expect(audit).toMatchObject({ action: 'apiClients.revoke', outcome: 'refused', detail: { apiClientId: unknown, reason: 'NOT_FOUND' } });
  });

  it('keeps every token out of the audit trail, whose chain stays valid', async () => {
    const { token } = await create(['system/Patient.rs']);
    const rows = await phos.services.db.select().from(auditLog);
    const text = JSON.stringify(rows.map((row) => row.detail));
    expect(text).not.toContain(token);
    expect(text).not.toContain(hashToken(token));
    expect(text).not.toMatch(/phos_[A-Za-z0-9_-]{20,}/);
    expect(await verifyAuditChain(phos.services.db)).toMatchObject({ ok: true });
  });
});
