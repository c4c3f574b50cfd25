import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '@phos/shared';
import { AppError } from '../../src/errors.js';
import { callerFor, createStaff, eventually, patientInput, startTestPhos, type TestPhos, trpcError } from '../support.js';

const planText = { title: 'Four eyes', goals: 'HbA1c under 7%', instructions: 'Metformin 500 mg twice daily' };

describe('care plans are signed by a second Provider (four eyes), never by an Admin', () => {
  let phos: TestPhos;
  let drafter: User;
  let colleague: User;
  let admin: User;
  let patientId: string;

  beforeAll(async () => {
    phos = await startTestPhos();
    drafter = await createStaff(phos);
    colleague = await createStaff(phos, 'Provider', { firstName: 'Cole', lastName: 'League' });
    admin = await createStaff(phos, 'Admin');
    const { user } = await callerFor(phos).auth.register(patientInput());
    patientId = await eventually(async () => (await callerFor(phos, user).registrant.status()).patientId);
  });
  afterAll(() => phos.cleanup());

  const draft = async () => (await callerFor(phos, drafter).carePlans.draft({ patientId, ...planText })).plan;

  it('refuses the drafter’s own approval (OWN_DRAFT) and leaves the draft awaiting another Provider', async () => {
    const plan = await draft();
    const own = await trpcError(callerFor(phos, drafter).carePlans.approve({ planId: plan.id }));
    expect(own.code).toBe('FORBIDDEN');
    expect(own.cause instanceof AppError && own.cause.appCode).toBe('OWN_DRAFT');
    const { plans } = await callerFor(phos, colleague).carePlans.forPatient({ id: patientId });
    expect(plans.find((p) => p.id === plan.id)?.status).toBe('draft');

    const { plan: signed } = await callerFor(phos, colleague).carePlans.approve({ planId: plan.id });
    expect(signed).toMatchObject({ status: 'active', approvedBy: { id: colleague.id, name: 'Cole League' } });
  });

  it('refuses Admins both the signature and the rejection', async () => {
    const plan = await draft();
    // One call at a time: a second call made up front would reject unobserved while the first is awaited.
    for (const attempt of [
      () => callerFor(phos, admin).carePlans.approve({ planId: plan.id }),
      () => callerFor(phos, admin).carePlans.reject({ planId: plan.id, reason: 'Admin says no' }),
    ]) {
      const error = await trpcError(attempt());
      expect(error.code).toBe('FORBIDDEN');
      expect(error.cause instanceof AppError && error.cause.appCode).toBe('FORBIDDEN');
    }
  });

  it('lets the drafter withdraw their own draft by rejecting it', async () => {
    const plan = await draft();
    const { plan: withdrawn } = await callerFor(phos, drafter).carePlans.reject({ planId: plan.id, reason: 'Wrong patient' });
    expect(withdrawn).toMatchObject({ status: 'rejected', rejectedBy: { id: drafter.id } });
  });
});
