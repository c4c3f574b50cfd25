import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEntry, User } from '@phos/shared';
import { verifyAuditChain } from '../../src/audit/audit.js';
import { auditLog } from '../../src/audit/schema.js';
import { buildHttpServer } from '../../src/http/server.js';
import { patients } from '../../src/patients/schema.js';
import type { Meta } from '../../src/trpc/auditTrail.js';
import { createContextInner, silentLogger } from '../../src/trpc/context.js';
import { appRouter, createCaller } from '../../src/trpc/router.js';
import { callerFor, createStaff, eventually, patientInput, startTestPhos, type TestPhos, trpcError } from '../support.js';
import { signedIn } from './http-support.js';

type Caller = ReturnType<typeof createCaller>;
type Actor = 'anonymous' | 'admin' | 'providerA' | 'providerB' | 'patient';

/** What the cases share: the people, and the records earlier cases made. */
interface Fixture {
  users: Record<Exclude<Actor, 'anonymous'>, User>;
  patientId: string;
  unverifiedId: string;
  flaggedId: string;
  entry: QueueEntry;
  planId: string;
  secondPlanId: string;
  failedRegistrationId: string;
}

interface HealthDataCase {
  as: Actor;
  /** Runs first, unaudited, to bring the state the call needs. */
  before?: (fx: Fixture) => Promise<void>;
  call: (caller: Caller, fx: Fixture) => Promise<unknown>;
  /** The patients the call's one row must name. */
  patients: (fx: Fixture, output: unknown) => string[];
  detail?: (fx: Fixture) => Record<string, unknown>;
}

const planText = { title: 'Audit plan', goals: 'Steady BP', instructions: 'Amlodipine 5 mg daily' };

/**
 * Every procedure that touches health data, in the order they run (later ones use what earlier
 * ones made). A procedure missing from here and from `noHealthData` fails the first test.
 */
const healthData: Record<string, HealthDataCase> = {
  'auth.register': {
    as: 'anonymous',
    call: (caller) => caller.auth.register(patientInput({ firstName: 'Reggie', lastName: 'Register' })),
    patients: () => [],
  },
  'admin.createUser': {
    as: 'admin',
    call: (caller) => caller.admin.createUser({ ...patientInput({ firstName: 'Addie', lastName: 'Added' }), role: 'Patient' }),
    patients: () => [],
  },
  'patients.findMatches': {
    as: 'providerA',
    call: (caller) => caller.patients.findMatches({ firstName: 'Pat', lastName: 'Table', dateOfBirth: '1985-12-10' }),
    patients: (fx) => [fx.patientId],
  },
  'patients.byId': {
    as: 'providerA',
    call: (caller, fx) => caller.patients.byId({ id: fx.patientId }),
    patients: (fx) => [fx.patientId],
  },
  'patients.journey': {
    as: 'providerA',
    call: (caller, fx) => caller.patients.journey({ id: fx.patientId }),
    patients: (fx) => [fx.patientId],
  },
  'patients.onChange': {
    as: 'providerA',
    call: (caller, fx) => caller.patients.onChange({ id: fx.patientId }),
    patients: (fx) => [fx.patientId],
  },
  'patients.verifyIdentity': {
    as: 'providerA',
    call: (caller, fx) => caller.patients.verifyIdentity({ id: fx.unverifiedId }),
    patients: (fx) => [fx.unverifiedId],
  },
  'patients.dismissDuplicate': {
    as: 'providerA',
    call: (caller, fx) => caller.patients.dismissDuplicate({ id: fx.flaggedId }),
    patients: (fx) => [fx.flaggedId],
  },
  'patients.registerWalkIn': {
    as: 'providerA',
    call: (caller) => caller.patients.registerWalkIn({ firstName: 'Walt', lastName: 'Audited', dateOfBirth: '1970-03-03' }),
    patients: () => [],
  },
  'queue.list': {
    as: 'providerA',
    call: (caller) => caller.queue.list(),
    patients: (fx, output) => {
      const listed = (output as { entries: QueueEntry[] }).entries.map((entry) => entry.patientId);
      expect(listed).toContain(fx.patientId);
      return listed;
    },
  },
  'queue.onChange': { as: 'providerA', call: (caller) => caller.queue.onChange(), patients: () => [] },
  'queue.transition': {
    as: 'providerA',
    call: async (caller, fx) => {
      ({ entry: fx.entry } = await caller.queue.transition({ entryId: fx.entry.id, expectedVersion: fx.entry.version, to: 'in_triage' }));
    },
    patients: (fx) => [fx.patientId],
    detail: (fx) => ({ entryId: fx.entry.id }),
  },
  'queue.triage': {
    as: 'providerA',
    call: async (caller, fx) => {
      ({ entry: fx.entry } = await caller.queue.triage({ entryId: fx.entry.id, expectedVersion: fx.entry.version, acuity: 3 }));
    },
    patients: (fx) => [fx.patientId],
  },
  'queue.undo': {
    as: 'providerA',
    call: async (caller, fx) => {
      ({ entry: fx.entry } = await caller.queue.undo({ entryId: fx.entry.id, expectedVersion: fx.entry.version }));
    },
    patients: (fx) => [fx.patientId],
  },
  'carePlans.draft': {
    as: 'providerA',
    call: async (caller, fx) => {
      fx.planId = (await caller.carePlans.draft({ patientId: fx.patientId, ...planText })).plan.id;
    },
    patients: (fx) => [fx.patientId],
    detail: (fx) => ({ planId: fx.planId }),
  },
  'carePlans.forPatient': {
    as: 'providerB',
    call: (caller, fx) => caller.carePlans.forPatient({ id: fx.patientId }),
    patients: (fx) => [fx.patientId],
  },
  'carePlans.approve': {
    as: 'providerB',
    call: (caller, fx) => caller.carePlans.approve({ planId: fx.planId }),
    patients: (fx) => [fx.patientId],
    detail: (fx) => ({ planId: fx.planId }),
  },
  'carePlans.reject': {
    as: 'providerB',
    before: async (fx) => {
      const { plan } = await callerFor(phos, fx.users.providerA).carePlans.draft({ patientId: fx.patientId, ...planText });
      fx.secondPlanId = plan.id;
    },
    call: (caller, fx) => caller.carePlans.reject({ planId: fx.secondPlanId, reason: 'Not yet' }),
    patients: (fx) => [fx.patientId],
  },
  'carePlans.mine': { as: 'patient', call: (caller) => caller.carePlans.mine(), patients: (fx) => [fx.patientId] },
  'carePlans.onMine': { as: 'patient', call: (caller) => caller.carePlans.onMine(), patients: (fx) => [fx.patientId] },
  'notifications.inbox': {
    as: 'providerB',
    // The draft above notifies the other Providers once the notifier has run.
    before: (fx) =>
      eventually(async () => (await callerFor(phos, fx.users.providerB).notifications.inbox()).notifications.length > 0).then(
        () => undefined,
      ),
    call: (caller) => caller.notifications.inbox(),
    patients: (fx) => [fx.patientId],
  },
  'notifications.onNew': { as: 'providerB', call: (caller) => caller.notifications.onNew(), patients: () => [] },
  'registrant.status': { as: 'patient', call: (caller) => caller.registrant.status(), patients: (fx) => [fx.patientId] },
  'registrant.onStatus': { as: 'patient', call: (caller) => caller.registrant.onStatus(), patients: (fx) => [fx.patientId] },
  'visit.mine': { as: 'patient', call: (caller) => caller.visit.mine(), patients: (fx) => [fx.patientId] },
  'visit.onMine': { as: 'patient', call: (caller) => caller.visit.onMine(), patients: (fx) => [fx.patientId] },
  'audit.search': {
    as: 'admin',
    call: (caller, fx) => caller.audit.search({ patientId: fx.patientId }),
    patients: (fx) => [fx.patientId],
    detail: (fx) => ({ patientId: fx.patientId }),
  },
  'audit.export': { as: 'admin', call: (caller) => caller.audit.export({}), patients: () => [] },
  // Failed registrations have no patient yet: the rows name the registrations in their detail.
  'ops.pipeline': { as: 'admin', call: (caller) => caller.ops.pipeline(), patients: () => [] },
  'ops.retryRegistration': {
    as: 'admin',
    before: async (fx) => {
      fx.failedRegistrationId = await failedRegistration();
    },
    call: (caller, fx) => caller.ops.retryRegistration({ registrationId: fx.failedRegistrationId }),
    patients: () => [],
    detail: (fx) => ({ registrationIds: fx.failedRegistrationId, count: 1 }),
  },
  'ops.retryAllRegistrations': { as: 'admin', call: (caller) => caller.ops.retryAllRegistrations(), patients: () => [] },
  'ops.discardRegistration': {
    as: 'admin',
    before: async (fx) => {
      fx.failedRegistrationId = await failedRegistration();
    },
    call: (caller, fx) => caller.ops.discardRegistration({ registrationId: fx.failedRegistrationId, reason: 'a test of the audit trail' }),
    patients: () => [],
    detail: (fx) => ({ registrationIds: fx.failedRegistrationId, count: 1 }),
  },
};

/** A registration job that fails for good at once: it names no outbox row. */
async function failedRegistration(): Promise<string> {
  const registrationId = randomUUID();
  await phos.queue.add('user.registered', { registrationId }, { jobId: registrationId });
  await eventually(async () => (await phos.queue.getJobState(registrationId)) === 'failed');
  return registrationId;
}

/**
 * Procedures that read or change no health data: sign-in and session plumbing (which records its
 * own sign-in, sign-out and account rows), clinic settings, and a user's own read marks.
 */
const noHealthData = [
  'auth.login',
  'auth.logout',
  'auth.session',
  'auth.keepAlive',
  'auth.changePassword',
  'auth.signOutEverywhere',
  'auth.me',
  'admin.listAccounts',
  'admin.disableAccount',
  'admin.enableAccount',
  'admin.changeRole',
  'admin.resetPassword',
  'admin.setAcuityTargets',
  'admin.createRoom',
  'admin.archiveRoom',
  'apiClients.list',
  'apiClients.create',
  'apiClients.revoke',
  'queue.settings',
  'notifications.markRead',
  'notifications.markAllRead',
  'ops.eventLog',
];

let phos: TestPhos;

describe('the audit trail (HIPAA 164.312(b))', () => {
  const fx = {} as Fixture;
  let ipCounter = 0;

  /** A caller in a request of its own, from an address of its own, as the HTTP adapter would make it. */
  function request(as: Actor, signal?: AbortSignal) {
    ipCounter += 1;
    const requestId = randomUUID();
    const ip = `198.51.100.${ipCounter}`;
    const user = as === 'anonymous' ? null : fx.users[as];
    const caller = createCaller(createContextInner({ services: phos.services, user, requestId, ip }), { signal });
    return { caller, requestId, ip, user };
  }

  function rowsOf(requestId: string) {
    return phos.services.db.select().from(auditLog).where(eq(auditLog.requestId, requestId));
  }

  beforeAll(async () => {
    phos = await startTestPhos();
    const db = phos.services.db;
    const staff = (firstName: string, lastName: string, role: 'Provider' | 'Admin') => createStaff(phos, role, { firstName, lastName });
    const registered = async (firstName: string, lastName: string) => {
      const { user } = await callerFor(phos).auth.register(patientInput({ firstName, lastName }));
      const patientId = await eventually(async () => (await callerFor(phos, user).registrant.status()).patientId);
      return { user, patientId };
    };
    fx.users = {
      admin: await staff('Ada', 'Admin', 'Admin'),
      providerA: await staff('Ann', 'Able', 'Provider'),
      providerB: await staff('Bo', 'Baker', 'Provider'),
      patient: (await registered('Pat', 'Table')).user,
    };
    fx.patientId = (await callerFor(phos, fx.users.patient).registrant.status()).patientId!;
    await callerFor(phos, fx.users.providerB).patients.verifyIdentity({ id: fx.patientId });
    fx.unverifiedId = (await registered('Una', 'Unverified')).patientId;
    fx.flaggedId = (await registered('Flo', 'Flagged')).patientId;
    await db.update(patients).set({ possibleDuplicateOf: fx.patientId }).where(eq(patients.id, fx.flaggedId));
    const { entries } = await callerFor(phos, fx.users.providerA).queue.list();
    fx.entry = entries.find((entry) => entry.patientId === fx.patientId)!;
  });
  afterAll(() => phos.cleanup());

  it('classifies every procedure: health data (in the table below) or none', () => {
    // tRPC types this flat record as the nested one; at run time it is keyed by path.
    const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { meta?: Meta } }>;
    const unclassified = Object.keys(procedures).filter((path) => !(path in healthData) && !noHealthData.includes(path));
    expect(unclassified, 'classify these procedures: add them to healthData or noHealthData').toEqual([]);
    for (const path of Object.keys(healthData)) {
      expect(procedures[path]?._def.meta?.audit, `${path} declares how it is audited`).toBeDefined();
    }
    for (const path of noHealthData) {
      expect(procedures[path]?._def.meta?.audit, `${path} touches no health data`).toBeUndefined();
    }
  });

  it.each(Object.entries(healthData))(
    '%s leaves exactly one row: who, role, patients, outcome, request id, address',
    async (path, test) => {
      await test.before?.(fx);
      const controller = new AbortController();
      const { caller, requestId, ip, user } = request(test.as, controller.signal);
      let output: unknown;
      try {
        output = await test.call(caller, fx);
      } finally {
        controller.abort(); // a subscription: its row says the stream opened; nothing more is needed of it
      }
      const rows = await rowsOf(requestId);
      expect(rows).toHaveLength(1);
      const [row] = rows;
      expect(row).toMatchObject({
        action: path,
        outcome: 'allowed',
        userId: user?.id ?? null,
        role: user?.role ?? null,
        ip,
        requestId,
      });
      expect([...row!.patientIds].sort()).toEqual([...new Set(test.patients(fx, output))].sort());
      if (test.detail) expect(row!.detail).toMatchObject(test.detail(fx));
      expect(Date.now() - row!.at.getTime()).toBeLessThan(60_000);
    },
  );

  it('records a refused call once, with the reason and the patient it aimed at', async () => {
    const cases = [
      { as: 'patient', call: (c: Caller) => c.queue.list(), action: 'queue.list', patients: [] as string[], appCode: 'FORBIDDEN' },
      {
        as: 'patient',
        call: (c: Caller) => c.patients.byId({ id: fx.unverifiedId }),
        action: 'patients.byId',
        patients: [fx.unverifiedId],
        appCode: 'FORBIDDEN',
      },
      {
        as: 'anonymous',
        call: (c: Caller) => c.carePlans.forPatient({ id: fx.patientId }),
        action: 'carePlans.forPatient',
        patients: [fx.patientId],
        appCode: 'NOT_SIGNED_IN',
      },
      {
        as: 'providerA',
        call: (c: Caller) => c.queue.transition({ entryId: fx.entry.id, expectedVersion: fx.entry.version - 1, to: 'in_triage' }),
        action: 'queue.transition',
        patients: [fx.patientId],
        appCode: 'STALE_VERSION',
      },
      {
        as: 'admin',
        call: (c: Caller) => c.carePlans.approve({ planId: fx.secondPlanId }),
        action: 'carePlans.approve',
        patients: [fx.patientId],
        appCode: 'FORBIDDEN',
      },
      {
        as: 'providerA',
        call: (c: Caller) => c.audit.search({}),
        action: 'audit.search',
        patients: [],
        appCode: 'FORBIDDEN',
      },
    ] as const;
    for (const refusal of cases) {
      const { caller, requestId, user } = request(refusal.as);
      await trpcError(refusal.call(caller));
      const rows = await rowsOf(requestId);
      expect(rows, refusal.action).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        action: refusal.action,
        outcome: 'refused',
        userId: user?.id ?? null,
        patientIds: refusal.patients,
        detail: { appCode: refusal.appCode },
      });
    }
  });

  it('records the address and request id of a call over HTTP, a batch giving one row per call', async () => {
    const server = await buildHttpServer({ phos, log: silentLogger });
    try {
      const { user, cookie } = await signedIn(server, phos, 'Provider');
      const response = await server.inject({
        method: 'POST',
        url: '/trpc/patients.byId,carePlans.forPatient?batch=1',
        headers: { cookie, 'content-type': 'application/json' },
        payload: { 0: { id: fx.patientId }, 1: { id: fx.patientId } },
      });
      expect(response.statusCode).toBe(200);
      const requestId = response.headers['x-request-id'] as string;
      const rows = await rowsOf(requestId);
      expect(rows.map((row) => row.action).sort()).toEqual(['carePlans.forPatient', 'patients.byId']);
      for (const row of rows) {
        expect(row).toMatchObject({ userId: user.id, role: 'Provider', ip: '127.0.0.1', patientIds: [fx.patientId], outcome: 'allowed' });
      }
    } finally {
      await server.close();
    }
  });

  it('keeps health data out of the trail itself: ids and codes, never names, dates of birth or notes', async () => {
    const rows = await phos.services.db.select().from(auditLog);
    expect(rows.length).toBeGreaterThan(30);
    const text = JSON.stringify(rows.map((row) => row.detail));
    for (const healthData of ['Table', 'Reggie', 'Addie', 'Walt', '1985-12-10', '1970-03-03', planText.instructions, 'Not yet']) {
      expect(text).not.toContain(healthData);
    }
  });

  it('keeps the chain valid under concurrent audited writes and reads', async () => {
    const calls = Array.from({ length: 8 }, (_, index) =>
      index % 2 === 0
        ? request('providerA').caller.carePlans.draft({ patientId: fx.patientId, ...planText, title: `Parallel ${index}` })
        : request('providerB').caller.patients.byId({ id: fx.patientId }),
    );
    await Promise.all(calls);
    const verified = await verifyAuditChain(phos.services.db);
    expect(verified).toMatchObject({ ok: true });
  });
});
