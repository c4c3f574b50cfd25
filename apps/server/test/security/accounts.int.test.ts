import { and, desc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '@phos/shared';
import { verifyAuditChain } from '../../src/audit/audit.js';
import { auditLog } from '../../src/audit/schema.js';
import { sessions } from '../../src/identity/schema.js';
import { hashToken, resolveSession } from '../../src/identity/sessions.js';
import { callerFor, createPatient, createStaff, recordingCookie, startTestPhos, type TestPhos, trpcError, trpcErrors } from '../support.js';
import { appCodeOf, callerInSession, openStream, PASSWORD, queueStream, sessionOf, timeToEnd } from './session-support.js';

const NEW_PASSWORD = 'Juniper-Obsidian-Walrus-47';

describe('account lifecycle', () => {
  let phos: TestPhos;
  let admin: User;
  let adminToken: string;

  beforeAll(async () => {
    phos = await startTestPhos();
    admin = await createStaff(phos, 'Admin', { lastName: 'Boss' });
    adminToken = await sessionOf(phos, admin);
  });
  afterAll(() => phos.cleanup());

  const asAdmin = () => callerInSession(phos, adminToken);

  async function isLive(token: string): Promise<boolean> {
    return (await resolveSession(phos.services.db, token, phos.services.sessionPolicy, { renew: false })) !== null;
  }

  async function lastAudit(action: string) {
    const [row] = await phos.services.db.select().from(auditLog).where(eq(auditLog.action, action)).orderBy(desc(auditLog.id)).limit(1);
    return row;
  }

  /** A signed-in user with two sessions, one of them watching the queue (staff) or their visit (Patient). */
  async function signedInTwice(role: User['role']) {
    const user = await (role === 'Patient' ? createPatient(phos) : createStaff(phos, role));
    const tokens = [await sessionOf(phos, user), await sessionOf(phos, user)] as const;
    const stream = await openStream(phos, tokens[0], role === 'Patient' ? (caller) => caller.visit.onMine() : queueStream);
    return { user, tokens, stream };
  }

  async function expectStreamEnded(ended: Promise<unknown>) {
    const { ms, outcome } = await timeToEnd(ended);
    expect(appCodeOf(outcome)).toBe('SESSION_ENDED');
    expect(ms).toBeLessThan(5000);
  }

  describe('admin.listAccounts', () => {
    it('lists accounts by role and by status', async () => {
      const provider = await createStaff(phos);
      const disabled = await createStaff(phos);
      await (await asAdmin()).admin.disableAccount({ id: disabled.id });

      const providers = (await (await asAdmin()).admin.listAccounts({ role: 'Provider' })).accounts;
      expect(providers.every((account) => account.role === 'Provider')).toBe(true);
      expect(providers.map((account) => account.id)).toEqual(expect.arrayContaining([provider.id, disabled.id]));

      const active = (await (await asAdmin()).admin.listAccounts({ role: 'Provider', status: 'active' })).accounts;
      expect(active.map((account) => account.id)).toContain(provider.id);
      expect(active.map((account) => account.id)).not.toContain(disabled.id);

      const off = (await (await asAdmin()).admin.listAccounts({ status: 'disabled' })).accounts;
      const listed = off.find((account) => account.id === disabled.id);
      expect(listed?.status).toBe('disabled');
      expect(Date.parse(listed?.disabledAt ?? '')).toBeLessThanOrEqual(Date.now());
      expect(off.map((account) => account.id)).not.toContain(provider.id);

      const all = (await (await asAdmin()).admin.listAccounts()).accounts;
      expect(all.map((account) => account.id)).toEqual(expect.arrayContaining([admin.id, provider.id, disabled.id]));
      // Accounts never carry a password hash.
      expect(JSON.stringify(all)).not.toMatch(/argon2/);
    });
  });

  describe('admin.disableAccount and admin.enableAccount', () => {
    it('disables: every session and stream ends at once, sign-in answers ACCOUNT_DISABLED, audited', async () => {
      const { user, tokens, stream } = await signedInTwice('Provider');
      const { account } = await (await asAdmin()).admin.disableAccount({ id: user.id });
      expect(account).toMatchObject({ id: user.id, status: 'disabled' });
      for (const token of tokens) expect(await isLive(token)).toBe(false);
      await expectStreamEnded(stream.ended);
      const login = await trpcError(callerFor(phos).auth.login({ email: user.email, password: PASSWORD }));
      expect(appCodeOf(login)).toBe('ACCOUNT_DISABLED');
      // No longer offered as a clinician.
      const { clinicians } = await (await asAdmin()).queue.settings();
      expect(clinicians.map((clinician) => clinician.id)).not.toContain(user.id);
      expect(await lastAudit('admin.disableAccount')).toMatchObject({
        userId: admin.id,
        role: 'Admin',
        outcome: 'allowed',
        detail: { targetUserId: user.id },
      });
    });

    it('re-enables: the account signs in again, audited', async () => {
      const user = await createPatient(phos);
      await (await asAdmin()).admin.disableAccount({ id: user.id });
      const { account } = await (await asAdmin()).admin.enableAccount({ id: user.id });
      expect(account).toMatchObject({ status: 'active', disabledAt: null });
      const cookie = recordingCookie();
      await callerFor(phos, null, cookie).auth.login({ email: user.email, password: PASSWORD });
      expect(await isLive(cookie.token!)).toBe(true);
      expect(await lastAudit('admin.enableAccount')).toMatchObject({
        userId: admin.id,
        outcome: 'allowed',
        detail: { targetUserId: user.id },
      });
    });

    it('refuses an Admin disabling themself, and records the refusal', async () => {
      const error = await trpcError((await asAdmin()).admin.disableAccount({ id: admin.id }));
      expect(error.code).toBe('FORBIDDEN');
      expect(error.message).toMatch(/your own account/);
      expect(await isLive(adminToken)).toBe(true);
      expect(await lastAudit('admin.disableAccount')).toMatchObject({
        outcome: 'refused',
        detail: { targetUserId: admin.id, reason: 'FORBIDDEN' },
      });
    });

    it('answers NOT_FOUND for an unknown account', async () => {
      const error = await trpcError((await asAdmin()).admin.disableAccount({ id: '00000000-0000-4000-8000-000000000000' }));
      expect(error.code).toBe('NOT_FOUND');
    });
  });

  describe('admin.changeRole', () => {
    it('moves a Provider to Admin: sessions and streams end, the next sign-in has the new role, audited', async () => {
      const { user, tokens, stream } = await signedInTwice('Provider');
      const { account } = await (await asAdmin()).admin.changeRole({ id: user.id, role: 'Admin' });
      expect(account.role).toBe('Admin');
      for (const token of tokens) expect(await isLive(token)).toBe(false);
      await expectStreamEnded(stream.ended);
      const signedIn = await callerFor(phos).auth.login({ email: user.email, password: PASSWORD });
      expect(signedIn.user.role).toBe('Admin');
      expect(await lastAudit('admin.changeRole')).toMatchObject({
        userId: admin.id,
        outcome: 'allowed',
        detail: { targetUserId: user.id, role: 'Admin' },
      });
    });

    it('refuses turning a Patient into staff or staff into a Patient', async () => {
      const patient = await createPatient(phos);
      const provider = await createStaff(phos);
      const token = await sessionOf(phos, provider);
      for (const error of await trpcErrors([
        (await asAdmin()).admin.changeRole({ id: patient.id, role: 'Provider' }),
        (await asAdmin()).admin.changeRole({ id: provider.id, role: 'Patient' }),
      ])) {
        expect(error.code).toBe('BAD_REQUEST');
        expect(error.message).toMatch(/only between Provider and Admin/);
      }
      expect(await isLive(token)).toBe(true);
    });

    it('refuses demoting the last active Admin', async () => {
      const solo = await startTestPhos();
      try {
        const only = await createStaff(solo, 'Admin');
        const asOnly = callerFor(solo, only);
        const demote = await trpcError(asOnly.admin.changeRole({ id: only.id, role: 'Provider' }));
        expect(demote.code).toBe('FORBIDDEN');
        expect(demote.message).toMatch(/last active Admin/);

        // With a second Admin, one may step down; the other is then the last.
        const second = await createStaff(solo, 'Admin');
        await asOnly.admin.changeRole({ id: only.id, role: 'Provider' });
        const asSecond = callerFor(solo, second);
        expect((await trpcError(asSecond.admin.changeRole({ id: second.id, role: 'Provider' }))).message).toMatch(/last active Admin/);
      } finally {
        await solo.cleanup();
      }
    });
  });

  describe('admin.resetPassword', () => {
    it('sets the new password, ends every session and stream, audited, never with the password', async () => {
      const { user, tokens, stream } = await signedInTwice('Provider');
      await (await asAdmin()).admin.resetPassword({ id: user.id, password: NEW_PASSWORD });
      for (const token of tokens) expect(await isLive(token)).toBe(false);
      await expectStreamEnded(stream.ended);
      expect(appCodeOf(await trpcError(callerFor(phos).auth.login({ email: user.email, password: PASSWORD })))).toBe('INVALID_CREDENTIALS');
      await callerFor(phos).auth.login({ email: user.email, password: NEW_PASSWORD });
      const audit = await lastAudit('admin.resetPassword');
      expect(audit).toMatchObject({ userId: admin.id, outcome: 'allowed', detail: { targetUserId: user.id } });
      expect(JSON.stringify(audit?.detail)).not.toContain(NEW_PASSWORD);
    });

    it('refuses a password the shared policy refuses', async () => {
      const user = await createStaff(phos);
      const error = await trpcError((await asAdmin()).admin.resetPassword({ id: user.id, password: 'short' }));
      expect(error.code).toBe('BAD_REQUEST');
    });
  });

  it('refuses every account action to Providers and Patients, and to anonymous callers', async () => {
    const target = await createStaff(phos);
    const targetToken = await sessionOf(phos, target);
    for (const role of ['Provider', 'Patient'] as const) {
      const caller = await callerInSession(
        phos,
        await sessionOf(phos, await (role === 'Patient' ? createPatient(phos) : createStaff(phos, role))),
      );
      for (const error of await trpcErrors([
        caller.admin.listAccounts(),
        caller.admin.disableAccount({ id: target.id }),
        caller.admin.enableAccount({ id: target.id }),
        caller.admin.changeRole({ id: target.id, role: 'Admin' }),
        caller.admin.resetPassword({ id: target.id, password: NEW_PASSWORD }),
      ])) {
        expect(error.code).toBe('FORBIDDEN');
      }
    }
    const anonymous = callerFor(phos);
    for (const error of await trpcErrors([anonymous.admin.listAccounts(), anonymous.admin.disableAccount({ id: target.id })])) {
      expect(error.code).toBe('UNAUTHORIZED');
    }
    expect(await isLive(targetToken)).toBe(true);
  });

  describe('auth.changePassword', () => {
    it('needs the current password, then ends the other sessions and their streams but keeps this one', async () => {
      const { user, tokens, stream } = await signedInTwice('Provider');
      const current = tokens[1];
      const ownStream = await openStream(phos, current, queueStream);

      const wrong = await trpcError(
        (await callerInSession(phos, current)).auth.changePassword({ currentPassword: 'not-my-password', newPassword: NEW_PASSWORD }),
      );
      expect(appCodeOf(wrong)).toBe('WRONG_PASSWORD');
      expect(await isLive(tokens[0])).toBe(true);
      expect(await lastAudit('auth.changePassword')).toMatchObject({ userId: user.id, outcome: 'refused' });

      await (await callerInSession(phos, current)).auth.changePassword({ currentPassword: PASSWORD, newPassword: NEW_PASSWORD });
      expect(await isLive(tokens[0])).toBe(false);
      expect(await isLive(current)).toBe(true);
      await expectStreamEnded(stream.ended);
      expect(phos.services.streams.openCount(hashToken(current))).toBe(1);
      ownStream.close();
      expect(await ownStream.ended).toBe('done');

      await callerFor(phos).auth.login({ email: user.email, password: NEW_PASSWORD });
      expect(await lastAudit('auth.changePassword')).toMatchObject({ userId: user.id, outcome: 'allowed' });
    });
  });

  describe('auth.signOutEverywhere', () => {
    it('ends every session of the user, this one included, with their streams, and clears the cookie', async () => {
      const { user, tokens, stream } = await signedInTwice('Patient');
      const cookie = recordingCookie();
      cookie.token = tokens[1];
      await (await callerInSession(phos, tokens[1], { cookie })).auth.signOutEverywhere();
      for (const token of tokens) expect(await isLive(token)).toBe(false);
      expect(cookie.token).toBeNull();
      await expectStreamEnded(stream.ended);
      const remaining = await phos.services.db.select().from(sessions).where(eq(sessions.userId, user.id));
      expect(remaining).toHaveLength(0);
      expect(await lastAudit('auth.signOutEverywhere')).toMatchObject({ userId: user.id, outcome: 'allowed', detail: { sessions: 2 } });
    });
  });

  it('records auth.logout', async () => {
    const user = await createPatient(phos);
    const token = await sessionOf(phos, user);
    await (await callerInSession(phos, token)).auth.logout();
    expect(await isLive(token)).toBe(false);
    const [row] = await phos.services.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'auth.logout'), eq(auditLog.userId, user.id)));
    expect(row).toMatchObject({ role: 'Patient', outcome: 'allowed' });
    expect(await verifyAuditChain(phos.services.db)).toMatchObject({ ok: true });
  });
});
