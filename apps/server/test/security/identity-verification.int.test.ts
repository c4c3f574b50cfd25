import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '@phos/shared';
import { AppError } from '../../src/errors.js';
import { patients } from '../../src/patients/schema.js';
import { createContextInner } from '../../src/trpc/context.js';
import { createCaller } from '../../src/trpc/router.js';
import { callerFor, collect, createStaff, eventually, patientInput, startTestPhos, type TestPhos, trpcError } from '../support.js';

const wanda = { firstName: 'Wanda', lastName: 'Walkin', dateOfBirth: '1968-08-08' };
const planText = { title: 'Anticoagulation', goals: 'INR 2–3', instructions: 'Warfarin 5 mg daily' };

function appCodeOf(error: { cause?: unknown }): string | undefined {
  return error.cause instanceof AppError ? error.cause.appCode : undefined;
}

/** A caller whose streams end when `leaving` aborts, as a client leaving ends them. */
function leavingCaller(phos: TestPhos, user: User, leaving: AbortController) {
  return createCaller(createContextInner({ services: phos.services, user }), { signal: leaving.signal });
}

describe('identity before clinical data: record takeover by pre-registration', () => {
  let phos: TestPhos;
  let nurse: User;
  let drafter: User;
  let approver: User;

  beforeAll(async () => {
    phos = await startTestPhos();
    nurse = await createStaff(phos, 'Provider', { firstName: 'Nina', lastName: 'Desk' });
    drafter = await createStaff(phos);
    approver = await createStaff(phos);
  });
  afterAll(() => phos.cleanup());

  async function selfRegister(person: Partial<typeof wanda> = {}) {
    const { user } = await callerFor(phos).auth.register(patientInput(person));
    const patientId = await eventually(async () => (await callerFor(phos, user).registrant.status()).patientId);
    return { user, patientId };
  }

  it('refuses to queue the real person on a stranger’s pre-registration, and never shows the stranger her care plan', async () => {
    const stranger = await selfRegister(wanda);
    const staff = callerFor(phos, nurse);

    // The stranger's record is offered as an existing patient, marked unverified.
    const { matches } = await staff.patients.findMatches(wanda);
    expect(matches.find((match) => match.id === stranger.patientId)).toMatchObject({ identityVerified: false });
    expect((await staff.patients.byId({ id: stranger.patientId })).identity).toEqual({
      verified: false,
      verifiedAt: null,
      verifiedBy: null,
      selfRegistered: true,
    });

    // Queuing the real Wanda's walk-in on it is refused until staff confirm identity.
    const refused = await trpcError(staff.patients.registerWalkIn({ ...wanda, existingPatientId: stranger.patientId }));
    expect(refused.code).toBe('PRECONDITION_FAILED');
    expect(appCodeOf(refused)).toBe('IDENTITY_NOT_VERIFIED');

    // Even a care plan signed on that record stays out of the stranger's reach.
    const leaving = new AbortController();
    const mine = collect(await leavingCaller(phos, stranger.user, leaving).carePlans.onMine(), { signal: leaving.signal });
    const { plan } = await callerFor(phos, drafter).carePlans.draft({ patientId: stranger.patientId, ...planText });
    await callerFor(phos, approver).carePlans.approve({ planId: plan.id });
    expect(await callerFor(phos, stranger.user).carePlans.mine()).toEqual({ plans: [], identityVerified: false });

    // Once staff confirm who holds the record, its owner reads it: the stream's first signal is the verification,
    // not the approval that came while the record was unverified.
    await staff.patients.verifyIdentity({ id: stranger.patientId });
    await mine.waitFor((received) => received.length > 0);
    leaving.abort();
    await mine.ended;
    expect(mine.received[0]).toEqual({ type: 'patient.identity_verified' });
    const after = await callerFor(phos, stranger.user).carePlans.mine();
    expect(after).toMatchObject({ identityVerified: true, plans: [{ id: plan.id }] });
  });

  it('records who verified and when, once, and tells open patient pages', async () => {
    const person = await selfRegister();
    const leaving = new AbortController();
    const page = collect(await leavingCaller(phos, approver, leaving).patients.onChange({ id: person.patientId }), {
      signal: leaving.signal,
    });
    const before = Date.now();
    const verified = await callerFor(phos, nurse).patients.verifyIdentity({ id: person.patientId });
    expect(verified.identity).toMatchObject({ verified: true, verifiedBy: 'Nina Desk', selfRegistered: true });
    expect(Date.parse(verified.identity.verifiedAt!)).toBeGreaterThanOrEqual(before - 1000);
    const [row] = await phos.services.db.select().from(patients).where(eq(patients.id, person.patientId));
    expect(row).toMatchObject({ identityVerifiedById: nurse.id, identityVerifiedByName: 'Nina Desk' });

    await page.waitFor((received) => received.length > 0);
    leaving.abort();
    await page.ended;
    expect(page.received.map(({ data }) => data.type)).toEqual(['patient.identity_verified']);

    // Verifying again changes nothing: the first verifier stays on record.
    const again = await callerFor(phos, approver).patients.verifyIdentity({ id: person.patientId });
    expect(again.identity).toEqual(verified.identity);
    expect((await callerFor(phos, person.user).patients.byId({ id: person.patientId })).identity.verified).toBe(true);
  });

  it('keeps verification to staff, and needs an existing record', async () => {
    const person = await selfRegister();
    const own = await trpcError(callerFor(phos, person.user).patients.verifyIdentity({ id: person.patientId }));
    expect(own.code).toBe('FORBIDDEN');
    expect((await trpcError(callerFor(phos).patients.verifyIdentity({ id: person.patientId }))).code).toBe('UNAUTHORIZED');
    const missing = await trpcError(callerFor(phos, nurse).patients.verifyIdentity({ id: randomUUID() }));
    expect(missing.code).toBe('NOT_FOUND');
  });

  it('creates a walk-in verified by the staff member who registered them at the desk', async () => {
    const { registrationId } = await callerFor(phos, nurse).patients.registerWalkIn({
      firstName: 'Vera',
      lastName: 'Deskcheck',
      dateOfBirth: '1950-02-02',
    });
    const [record] = await eventually(async () => {
      const rows = await phos.services.db.select().from(patients).where(eq(patients.registrationId, registrationId));
      return rows.length > 0 ? rows : undefined;
    });
    const view = await callerFor(phos, approver).patients.byId({ id: record!.id });
    expect(view.identity).toMatchObject({ verified: true, verifiedBy: 'Nina Desk', selfRegistered: false });
    const { matches } = await callerFor(phos, approver).patients.findMatches({
      firstName: 'Vera',
      lastName: 'Deskcheck',
      dateOfBirth: '1950-02-02',
    });
    expect(matches).toMatchObject([{ id: record!.id, identityVerified: true }]);
  });

  it('shows an unverified owner their queue status and no clinical content', async () => {
    const person = await selfRegister();
    const owner = callerFor(phos, person.user);
    const record = await owner.patients.byId({ id: person.patientId });
    expect(record).toMatchObject({ queueStatus: 'waiting', identity: { verified: false } });
    // The record's contract has no clinical fields at all: demographics, queue status, identity.
    expect(Object.keys(record).sort()).toEqual(
      [
        'dateOfBirth',
        'email',
        'firstName',
        'id',
        'identity',
        'lastName',
        'phone',
        'possibleDuplicateOf',
        'queueStatus',
        'registeredAt',
      ].sort(),
    );
    expect(await owner.visit.mine()).toMatchObject({ stage: 'waiting', patientId: person.patientId });
    expect(await owner.carePlans.mine()).toEqual({ plans: [], identityVerified: false });
    // Staff see the triage note; the owner has no procedure that returns it.
    const waiting = (await callerFor(phos, nurse).queue.list()).entries.find((e) => e.patientId === person.patientId)!;
    const { entry } = await callerFor(phos, nurse).queue.transition({
      entryId: waiting.id,
      expectedVersion: waiting.version,
      to: 'in_triage',
    });
    await callerFor(phos, nurse).queue.triage({ entryId: entry.id, expectedVersion: entry.version, acuity: 3, note: 'Chest pain' });
    expect((await trpcError(owner.patients.journey({ id: person.patientId }))).code).toBe('FORBIDDEN');
    expect(JSON.stringify([await owner.patients.byId({ id: person.patientId }), await owner.visit.mine()])).not.toContain('Chest pain');
  });
});
