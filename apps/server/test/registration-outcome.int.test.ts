import { and, count, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog } from '../src/audit/schema.js';
import { outbox } from '../src/outbox/schema.js';
import { sessions, users } from '../src/identity/schema.js';
import { REGISTRATION_RETRY_WINDOW_MS } from '../src/identity/registration.js';
import { resolveSession } from '../src/identity/sessions.js';
import { patients } from '../src/patients/schema.js';
import { callerFor, eventually, patientInput, recordingCookie, startTestPhos, type TestPhos, trpcError } from './support.js';

type Registration = ReturnType<typeof patientInput>;

/** Registers over tRPC as the web app does; the session token the response set, with the user. */
async function register(phos: TestPhos, input: Registration) {
  const cookie = recordingCookie();
  const { user } = await callerFor(phos, null, cookie).auth.register(input);
  return { user, token: cookie.token };
}

async function rowsFor(phos: TestPhos, email: string) {
  const db = phos.services.db;
  const [account] = await db
    .select()
    .from(users)
    .where(sql`lower(${users.email}) = lower(${email})`);
  const [registrations] = await db
    .select({ n: count() })
    .from(outbox)
    .where(sql`${outbox.type} = 'user.registered' and ${outbox.payload}->>'email' = ${email}`);
  const [sessionRows] = account ? await db.select({ n: count() }).from(sessions).where(eq(sessions.userId, account.id)) : [{ n: 0 }];
  const [patientRows] = account ? await db.select({ n: count() }).from(patients).where(eq(patients.userId, account.id)) : [{ n: 0 }];
  return { account, outbox: registrations?.n ?? 0, sessions: sessionRows?.n ?? 0, patients: patientRows?.n ?? 0 };
}

/** The user a session token belongs to, if it is live. */
async function holderOf(phos: TestPhos, token: string | null) {
  if (!token) return null;
  const resolved = await resolveSession(phos.services.db, token, phos.services.sessionPolicy, { renew: false });
  return resolved?.user.id ?? null;
}

async function registerAudits(phos: TestPhos, userId: string) {
  return phos.services.db
    .select({ outcome: auditLog.outcome, detail: auditLog.detail })
    .from(auditLog)
    .where(and(eq(auditLog.action, 'auth.register'), sql`${auditLog.detail}->>'userId' = ${userId}`));
}

describe('registration is one outcome', () => {
  let phos: TestPhos;

  beforeAll(async () => {
    phos = await startTestPhos();
  });
  afterAll(() => phos.cleanup());

  it('leaves no account and no outbox row when its session cannot be written', async () => {
    // Any failure after the account's insert, deterministically: no session row may be written.
    await phos.services.db.execute(sql`alter table sessions add constraint test_no_sessions check (false) not valid`);
    const input = patientInput({ lastName: 'Sessionless' });
    try {
      const error = await trpcError(register(phos, input));
      expect(error.code).toBe('INTERNAL_SERVER_ERROR');
    } finally {
      await phos.services.db.execute(sql`alter table sessions drop constraint test_no_sessions`);
    }
    const rows = await rowsFor(phos, input.email);
    expect(rows.account).toBeUndefined();
    expect(rows.outbox).toBe(0);

    // Nothing half-written stands in the way: the same registration now simply succeeds.
    const { user, token } = await register(phos, input);
    expect(await holderOf(phos, token)).toBe(user.id);
    const audits = await registerAudits(phos, user.id);
    expect(audits.map((row) => [row.outcome, Object.keys(row.detail).sort()])).toEqual([['allowed', ['registrationId', 'userId']]]);
  });

  it('answers a repeated registration with the same account and a working session, and makes one patient', async () => {
    const input = patientInput({ lastName: 'Retried' });
    const first = await register(phos, input);
    // The client never saw that answer, and sends the same registration again.
    const again = await register(phos, input);
    expect(again.user.id).toBe(first.user.id);
    expect(again.token).toEqual(expect.any(String));
    expect(again.token).not.toBe(first.token);
    expect(await holderOf(phos, again.token)).toBe(first.user.id);
    // The email's case is the account's business, not the retry's.
    const upper = await register(phos, { ...input, email: input.email.toUpperCase() });
    expect(upper.user.id).toBe(first.user.id);

    await eventually(async () => (await rowsFor(phos, input.email)).patients === 1);
    const rows = await rowsFor(phos, input.email);
    expect(rows).toMatchObject({ outbox: 1, sessions: 3, patients: 1 });
    const audits = await registerAudits(phos, first.user.id);
    expect(audits.map((row) => [row.outcome, row.detail.retried ?? false])).toEqual([
      ['allowed', false],
      ['allowed', true],
      ['allowed', true],
    ]);
  });

  it.each([
    ['another password', { password: 'another-horse-battery-9' }],
    ['another name', { firstName: 'Ida' }],
    ['another date of birth', { dateOfBirth: '1990-01-01' }],
  ])('refuses a repeat with %s with EMAIL_TAKEN, and writes nothing', async (_what, change) => {
    const input = patientInput();
    const first = await register(phos, input);
    // Its patient comes in its own time: wait for it, so that only the refused repeat could change a row.
    const before = await eventually(async () => {
      const rows = await rowsFor(phos, input.email);
      return rows.patients === 1 && rows;
    });
    const error = await trpcError(register(phos, { ...input, ...change }));
    expect(error.code).toBe('CONFLICT');
    expect(error.cause).toMatchObject({ appCode: 'EMAIL_TAKEN' });
    expect(await rowsFor(phos, input.email)).toEqual(before);
    expect(await registerAudits(phos, first.user.id)).toHaveLength(1);
  });

  it('refuses a repeat once the window has passed, or once the account has moved on', async () => {
    const late = patientInput();
    const { user } = await register(phos, late);
    await phos.services.db
      .update(users)
      .set({ createdAt: new Date(Date.now() - REGISTRATION_RETRY_WINDOW_MS - 1000) })
      .where(eq(users.id, user.id));
    expect((await trpcError(register(phos, late))).code).toBe('CONFLICT');

    const changed = patientInput();
    const { user: moved } = await register(phos, changed);
    await phos.services.db.update(users).set({ passwordChangedAt: new Date() }).where(eq(users.id, moved.id));
    expect((await trpcError(register(phos, changed))).code).toBe('CONFLICT');

    const disabled = patientInput();
    const { user: off } = await register(phos, disabled);
    await phos.services.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, off.id));
    expect((await trpcError(register(phos, disabled))).code).toBe('CONFLICT');
  });

  it('gives five identical registrations at once one account, five sessions and one patient', async () => {
    const input = patientInput({ lastName: 'Stampede' });
    const results = await Promise.all(Array.from({ length: 5 }, () => register(phos, input)));
    const ids = new Set(results.map((result) => result.user.id));
    expect(ids.size).toBe(1);
    const [userId] = [...ids];
    const holders = await Promise.all(results.map((result) => holderOf(phos, result.token)));
    expect(holders).toEqual(Array.from({ length: 5 }, () => userId));
    expect(new Set(results.map((result) => result.token)).size).toBe(5);

    await eventually(async () => (await rowsFor(phos, input.email)).patients === 1);
    expect(await rowsFor(phos, input.email)).toMatchObject({ outbox: 1, sessions: 5, patients: 1 });
  });
});
