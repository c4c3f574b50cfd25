import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '@phos/shared';
import { createContextInner } from '../src/trpc/context.js';
import { createCaller } from '../src/trpc/router.js';
import {
  callerFor,
  collect,
  createStaff,
  eventually,
  patientInput,
  startTestPhos,
  type TestPhos,
  trpcError,
  trpcErrors,
} from './support.js';

const planText = { title: 'Hypertension follow-up', goals: 'BP under 140/90', instructions: 'Amlodipine 5 mg daily' };

describe('care plans', () => {
  let phos: TestPhos;
  let drafter: User;
  let approver: User;
  let admin: User;
  let patientUser: User;
  let otherPatientUser: User;
  let patientId: string;

  beforeAll(async () => {
    phos = await startTestPhos();
    drafter = await createStaff(phos, 'Provider', { firstName: 'Dee', lastName: 'Drafter' });
    approver = await createStaff(phos, 'Provider', { firstName: 'Abe', lastName: 'Approver' });
    admin = await createStaff(phos, 'Admin');
    ({ user: patientUser } = await callerFor(phos).auth.register(patientInput()));
    ({ user: otherPatientUser } = await callerFor(phos).auth.register(patientInput()));
    patientId = await eventually(async () => (await callerFor(phos, patientUser).registrant.status()).patientId);
    // Staff confirmed at the desk who the patient is: until then carePlans.mine shows nothing.
    await callerFor(phos, approver).patients.verifyIdentity({ id: patientId });
  });
  afterAll(() => phos.cleanup());

  it('goes draft → active, signed by the approver, and the patient sees it', async () => {
    const { plan: draft } = await callerFor(phos, drafter).carePlans.draft({ patientId, ...planText });
    expect(draft).toMatchObject({ status: 'draft', version: 1, draftedBy: { name: 'Dee Drafter' }, approvedBy: null });
    expect((await callerFor(phos, patientUser).carePlans.mine()).plans).toEqual([]);

    const { plan: active } = await callerFor(phos, approver).carePlans.approve({ planId: draft.id });
    expect(active).toMatchObject({ status: 'active', approvedBy: { id: approver.id, name: 'Abe Approver' } });
    expect(Date.parse(active.approvedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(draft.draftedAt));

    expect((await callerFor(phos, patientUser).carePlans.mine()).plans.map((p) => p.id)).toEqual([active.id]);
    expect((await callerFor(phos, otherPatientUser).carePlans.mine()).plans).toEqual([]);
  });

  it('is never edited once approved: a new version replaces it on approval', async () => {
    const { plan: v1 } = await callerFor(phos, drafter).carePlans.draft({ patientId, ...planText, title: 'Asthma plan' });
    await callerFor(phos, approver).carePlans.approve({ planId: v1.id });
    const again = await trpcError(callerFor(phos, approver).carePlans.approve({ planId: v1.id }));
    expect(again.code).toBe('UNPROCESSABLE_CONTENT');

    const { plan: v2 } = await callerFor(phos, drafter).carePlans.draft({
      patientId,
      ...planText,
      title: 'Asthma plan',
      instructions: 'Salbutamol as needed',
      replacesPlanId: v1.id,
    });
    expect(v2).toMatchObject({ version: 2, replacesPlanId: v1.id, status: 'draft' });
    // The approved plan stays in force while its replacement awaits approval.
    const mineBefore = (await callerFor(phos, patientUser).carePlans.mine()).plans;
    expect(mineBefore.find((p) => p.id === v1.id)?.instructions).toBe(planText.instructions);

    await callerFor(phos, approver).carePlans.approve({ planId: v2.id });
    const { plans } = await callerFor(phos, drafter).carePlans.forPatient({ id: patientId });
    expect(plans.find((p) => p.id === v1.id)).toMatchObject({ status: 'superseded', instructions: planText.instructions });
    expect(plans.find((p) => p.id === v2.id)?.status).toBe('active');
    const mine = (await callerFor(phos, patientUser).carePlans.mine()).plans.map((p) => p.id);
    expect(mine).toContain(v2.id);
    expect(mine).not.toContain(v1.id);
  });

  it('can be rejected with a reason, after which it cannot be approved', async () => {
    const { plan } = await callerFor(phos, drafter).carePlans.draft({ patientId, ...planText });
    const missingReason = await trpcError(callerFor(phos, approver).carePlans.reject({ planId: plan.id, reason: ' ' }));
    expect(missingReason.code).toBe('BAD_REQUEST');
    const { plan: rejected } = await callerFor(phos, approver).carePlans.reject({ planId: plan.id, reason: 'Dose too high' });
    expect(rejected).toMatchObject({ status: 'rejected', rejectionReason: 'Dose too high', rejectedBy: { id: approver.id } });
    expect((await trpcError(callerFor(phos, approver).carePlans.approve({ planId: plan.id }))).code).toBe('UNPROCESSABLE_CONTENT');
  });

  it('refuses to replace a plan that is not active, or another patient’s', async () => {
    const { plan: draft } = await callerFor(phos, drafter).carePlans.draft({ patientId, ...planText });
    const notActive = await trpcError(callerFor(phos, drafter).carePlans.draft({ patientId, ...planText, replacesPlanId: draft.id }));
    expect(notActive.code).toBe('UNPROCESSABLE_CONTENT');
    const otherPatientId = await eventually(async () => (await callerFor(phos, otherPatientUser).registrant.status()).patientId);
    const wrongPatient = await trpcError(
      callerFor(phos, drafter).carePlans.draft({ patientId: otherPatientId, ...planText, replacesPlanId: draft.id }),
    );
    expect(wrongPatient.code).toBe('BAD_REQUEST');
  });

  it('signals a patient detail page live about that patient only', async () => {
    const controller = new AbortController();
    const caller = createCaller(createContextInner({ services: phos.services, user: approver }), { signal: controller.signal });
    const signals = collect(await caller.patients.onChange({ id: patientId }), { signal: controller.signal });
    try {
      const otherPatientId = await eventually(async () => (await callerFor(phos, otherPatientUser).registrant.status()).patientId);
      await callerFor(phos, drafter).carePlans.draft({ patientId: otherPatientId, ...planText });
      const { plan } = await callerFor(phos, drafter).carePlans.draft({ patientId, ...planText });
      await callerFor(phos, approver).carePlans.approve({ planId: plan.id });
      await signals.waitFor((received) => received.length >= 2);
      expect(signals.received.map(({ data }) => data.type)).toEqual(['careplan.drafted', 'careplan.approved']);
    } finally {
      controller.abort();
      await signals.ended;
    }
  });

  it('keeps drafting and approval to staff, and a Patient to their own active plans', async () => {
    const { plan } = await callerFor(phos, drafter).carePlans.draft({ patientId, ...planText });
    for (const [user, code] of [
      [null, 'UNAUTHORIZED'],
      [patientUser, 'FORBIDDEN'],
    ] as const) {
      const caller = callerFor(phos, user);
      for (const error of await trpcErrors([
        caller.carePlans.draft({ patientId, ...planText }),
        caller.carePlans.approve({ planId: plan.id }),
        caller.carePlans.reject({ planId: plan.id, reason: 'no' }),
        caller.carePlans.forPatient({ id: patientId }),
      ])) {
        expect(error.code).toBe(code);
      }
    }
    expect((await trpcError(callerFor(phos, drafter).carePlans.mine())).code).toBe('FORBIDDEN');
    await expect(callerFor(phos, admin).carePlans.forPatient({ id: patientId })).resolves.toBeDefined();
  });
});
