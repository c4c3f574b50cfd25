import type { TRPCError } from '@trpc/server';
import { asc, eq } from 'drizzle-orm';
import { inject, onTestFinished } from 'vitest';
import { describe, expect, it } from 'vitest';
import type { PhosConfig } from '../../src/app.js';
import { verifyAuditChain } from '../../src/audit/audit.js';
import { auditLog } from '../../src/audit/schema.js';
import { users } from '../../src/identity/schema.js';
import { buildHttpServer } from '../../src/http/server.js';
import { createSignInGuard, type SignInLimits } from '../../src/identity/throttle.js';
import { connectBounded } from '../../src/redis/connection.js';
import type { Services } from '../../src/services.js';
import { createContextInner, silentLogger } from '../../src/trpc/context.js';
import { createCaller } from '../../src/trpc/router.js';
import { patientInput, recordingCookie, startTestPhos, trpcError, trpcErrors } from '../support.js';

const WRONG = 'not-the-password-at-all';

async function phosWith(signInLimits: Partial<SignInLimits>, overrides: Partial<PhosConfig> = {}) {
  const phos = await startTestPhos({ signInLimits, ...overrides });
  onTestFinished(() => phos.cleanup());
  return phos;
}

/** A caller as a network client at `ip` would be, through these services (this api instance). */
function callerAt(services: Services, ip: string) {
  return createCaller(createContextInner({ services, ip, sessionCookie: recordingCookie() }));
}

async function accountIn(services: Services, overrides: Parameters<typeof patientInput>[0] = {}) {
  const input = patientInput(overrides);
  // No address: in-process registrations are not throttled per address.
  const { user } = await createCaller(createContextInner({ services })).auth.register(input);
  return { ...input, user };
}

function isThrottled(error: unknown): boolean {
  return (error as TRPCError | undefined)?.code === 'TOO_MANY_REQUESTS';
}

/**
 * Tries until an attempt is no longer refused as throttled, and answers what that attempt did.
 * Polls at a fixed pace (each refused poll is itself an unchecked, uncounted attempt) with a
 * generous deadline; the waits being tested are the server's, not this loop's.
 */
async function firstCheckedAttempt<T>(
  attempt: () => Promise<T>,
  timeoutMs = 30_000,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return { ok: true, value: await attempt() };
    } catch (error) {
      if (!isThrottled(error)) return { ok: false, error };
      if (Date.now() > deadline) throw new Error(`still throttled after ${timeoutMs} ms`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function loginRows(services: Services) {
  return services.db.select().from(auditLog).where(eq(auditLog.action, 'auth.login')).orderBy(asc(auditLog.id));
}

// Each test starts its own Phos and waits out real windows and delays: slow on a loaded machine.
describe('sign-in throttling (ASVS 2.2.1)', { timeout: 120_000 }, () => {
  it('locks an account after 10 failures for the rest of the window; the right password is not even checked; other accounts are unaffected', async () => {
    // Long enough that ten checks and the eleventh attempt fit in it even on a loaded machine.
    const phos = await phosWith({ windowSeconds: 12, failuresBeforeDelay: 100 });
    const ada = await accountIn(phos.services);
    const grace = await accountIn(phos.services);
    const attacker = callerAt(phos.services, '203.0.113.10');

    const failures = await trpcErrors(Array.from({ length: 10 }, () => attacker.auth.login({ email: ada.email, password: WRONG })));
    expect(failures.map((error) => error.code)).toEqual(Array(10).fill('UNAUTHORIZED'));

    const locked = await trpcError(attacker.auth.login({ email: ada.email, password: ada.password }));
    expect(locked.code).toBe('TOO_MANY_REQUESTS');
    expect(locked.message).toMatch(/^Too many attempts\. Try again in \d+ seconds?\.$/);
    // Ada herself, from anywhere, waits too: the lock is on the account.
    expect(
      isThrottled(await trpcError(callerAt(phos.services, '198.51.100.1').auth.login({ email: ada.email, password: ada.password }))),
    ).toBe(true);

    // The same address may still sign in to another account: 10 is below its own cap.
    const { user } = await attacker.auth.login({ email: grace.email, password: grace.password });
    expect(user.id).toBe(grace.user.id);

    // After the window the count is gone and the right password works again.
    const after = await firstCheckedAttempt(() =>
      callerAt(phos.services, '198.51.100.1').auth.login({ email: ada.email, password: ada.password }),
    );
    expect(after.ok && after.value.user.id).toBe(ada.user.id);
  });

  it('counts concurrent guesses before checking them: of 25 at once, only the free three and one more are checked', async () => {
    const phos = await phosWith({});
    const ada = await accountIn(phos.services);
    const attacker = callerAt(phos.services, '203.0.113.11');

    const errors = await trpcErrors(Array.from({ length: 25 }, () => attacker.auth.login({ email: ada.email, password: WRONG })));
    const checked = errors.filter((error) => error.code === 'UNAUTHORIZED').length;
    const refused = errors.filter(isThrottled).length;
    // Three failures are free; past them attempts take turns, so at most one more is checked and the rest wait.
    expect(checked).toBeGreaterThanOrEqual(3);
    expect(checked).toBeLessThanOrEqual(4);
    expect(checked + refused).toBe(25);
  });

  it('delays attempts increasingly after three failures: one during the wait is refused without checking the password', async () => {
    const phos = await phosWith({});
    const ada = await accountIn(phos.services);
    const caller = callerAt(phos.services, '203.0.113.12');

    for (let i = 0; i < 3; i += 1) {
      expect((await trpcError(caller.auth.login({ email: ada.email, password: WRONG }))).code).toBe('UNAUTHORIZED');
    }
    // The third failure starts a 1 s wait: the fourth attempt is checked only once it has passed.
    const fourth = await firstCheckedAttempt(() => caller.auth.login({ email: ada.email, password: WRONG }));
    expect(fourth.ok).toBe(false);
    expect((fourth as { error: TRPCError }).error.code).toBe('UNAUTHORIZED');
    const fourthFailedAt = Date.now();

    // Right after the fourth failure even the right password is refused, unchecked; the wait has doubled.
    const during = await trpcError(caller.auth.login({ email: ada.email, password: ada.password }));
    expect(during.code).toBe('TOO_MANY_REQUESTS');
    expect(during.message).toBe('Too many attempts. Try again in 2 seconds.');

    const after = await firstCheckedAttempt(() => caller.auth.login({ email: ada.email, password: ada.password }));
    expect(after.ok && after.value.user.id).toBe(ada.user.id);
    expect(Date.now() - fourthFailedAt).toBeGreaterThanOrEqual(1_500);

    const reasons = (await loginRows(phos.services)).map((row) => row.detail.reason);
    expect(reasons).toContain('delayed');
  });

  it('a successful sign-in starts the account afresh', async () => {
    const phos = await phosWith({ maxFailuresPerAccount: 3, failuresBeforeDelay: 100 });
    const ada = await accountIn(phos.services);
    const caller = callerAt(phos.services, '203.0.113.13');

    await trpcErrors([0, 1].map(() => caller.auth.login({ email: ada.email, password: WRONG })));
    await caller.auth.login({ email: ada.email, password: ada.password });

    const again = await trpcErrors([0, 1, 2].map(() => caller.auth.login({ email: ada.email, password: WRONG })));
    expect(again.map((error) => error.code)).toEqual(['UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED']);
    expect(isThrottled(await trpcError(caller.auth.login({ email: ada.email, password: ada.password })))).toBe(true);
  });

  it('caps failures per client address across accounts, so one address cannot spray many', async () => {
    const phos = await phosWith({ maxFailuresPerAddress: 5 });
    const ada = await accountIn(phos.services);
    const sprayer = callerAt(phos.services, '203.0.113.14');

    const failures = await trpcErrors(
      Array.from({ length: 5 }, (_, i) => sprayer.auth.login({ email: `someone-${i}@example.com`, password: WRONG })),
    );
    expect(failures.map((error) => error.code)).toEqual(Array(5).fill('UNAUTHORIZED'));

    // A sixth account, even with its right password, is not checked from that address...
    expect(isThrottled(await trpcError(sprayer.auth.login({ email: ada.email, password: ada.password })))).toBe(true);
    // ...but is from another one.
    const { user } = await callerAt(phos.services, '198.51.100.2').auth.login({ email: ada.email, password: ada.password });
    expect(user.id).toBe(ada.user.id);
  });

  it('shares the counts between api instances through Redis: failures on one lock the account on the other', async () => {
    const limits = { maxFailuresPerAccount: 4, failuresBeforeDelay: 100 };
    const phos = await phosWith(limits);
    // A second api instance: its own Redis connection and limiter objects, the same Redis and prefix.
    const redis = connectBounded(inject('redisTarget'));
    redis.on('error', () => undefined);
    onTestFinished(() => redis.disconnect());
    const second: Services = { ...phos.services, signIn: createSignInGuard({ redis, prefix: phos.prefix, log: silentLogger, limits }) };
    const ada = await accountIn(phos.services);
    const onFirst = callerAt(phos.services, '203.0.113.15');
    const onSecond = callerAt(second, '203.0.113.16');

    for (const caller of [onFirst, onSecond, onFirst, onSecond]) {
      expect((await trpcError(caller.auth.login({ email: ada.email, password: WRONG }))).code).toBe('UNAUTHORIZED');
    }
    expect(isThrottled(await trpcError(onFirst.auth.login({ email: ada.email, password: ada.password })))).toBe(true);
    expect(isThrottled(await trpcError(onSecond.auth.login({ email: ada.email, password: ada.password })))).toBe(true);
  });

  it('throttles registration per address', async () => {
    const phos = await phosWith({ registrationsPerAddress: 3 });
    const fromOne = callerAt(phos.services, '203.0.113.17');
    for (let i = 0; i < 3; i += 1) await fromOne.auth.register(patientInput());

    const refused = await trpcError(fromOne.auth.register(patientInput()));
    expect(refused.code).toBe('TOO_MANY_REQUESTS');
    expect(refused.message).toMatch(/^Too many attempts\. Try again in \d+ minutes\.$/);

    const { user } = await callerAt(phos.services, '198.51.100.3').auth.register(patientInput());
    expect(user.role).toBe('Patient');
  });

  it('fails closed while Redis cannot count: sign-in and registration are refused unchecked, and the process carries on', async () => {
    const phos = await phosWith({});
    const ada = await accountIn(phos.services);
    const deadRedis = connectBounded({ url: 'redis://127.0.0.1:1' }, 500);
    let redisErrors = 0;
    deadRedis.on('error', () => (redisErrors += 1));
    onTestFinished(() => deadRedis.disconnect());
    const cutOff: Services = { ...phos.services, signIn: createSignInGuard({ redis: deadRedis, prefix: phos.prefix, log: silentLogger }) };

    const login = await trpcError(callerAt(cutOff, '203.0.113.18').auth.login({ email: ada.email, password: ada.password }));
    expect(login.code).toBe('TOO_MANY_REQUESTS');
    expect(login.message).toBe('Signing in is unavailable for a moment. Try again shortly.');
    const register = await trpcError(callerAt(cutOff, '203.0.113.18').auth.register(patientInput()));
    expect(register.code).toBe('TOO_MANY_REQUESTS');
    expect(redisErrors).toBeGreaterThan(0);

    // The attempt is on record, and this instance (with its Redis) still signs people in.
    expect((await loginRows(phos.services)).at(-1)?.detail).toEqual({
      email: ada.email,
      reason: 'throttle-unavailable',
      retryAfterSeconds: 5,
    });
    const { user } = await callerAt(phos.services, '203.0.113.18').auth.login({ email: ada.email, password: ada.password });
    expect(user.id).toBe(ada.user.id);
  });
});

describe('batched sign-in over HTTP', { timeout: 120_000 }, () => {
  it('refuses a batch of 50 auth.login calls with 400 before any is tried, and still serves the web client’s batch of one', async () => {
    const phos = await phosWith({});
    const ada = await accountIn(phos.services);
    const app = await buildHttpServer({ phos, log: silentLogger });
    onTestFinished(() => app.close());
    const guesses = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [String(i), { email: ada.email, password: `${WRONG}-${i}` }]));

    const batch = await app.inject({
      method: 'POST',
      url: `/trpc/${Array(50).fill('auth.login').join(',')}?batch=1`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(guesses),
    });
    expect(batch.statusCode).toBe(400);
    expect(batch.json<{ error: { message: string } }>().error.message).toMatch(/cannot be batched/);

    const mixed = await app.inject({
      method: 'POST',
      url: '/trpc/auth.me,auth.login?batch=1',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ 1: { email: ada.email, password: WRONG } }),
    });
    expect(mixed.statusCode).toBe(400);

    // The router decodes percent-escapes, so an escaped path reaches tRPC and must be caught too.
    const escaped = await app.inject({
      method: 'POST',
      url: '/%74rpc/auth.login%2Cauth.login?batch=1',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ 0: { email: ada.email, password: WRONG }, 1: { email: ada.email, password: WRONG } }),
    });
    expect(escaped.statusCode).toBe(400);

    // Nothing was tried, nothing was counted: 50 counted failures would have locked the account.
    expect(await loginRows(phos.services)).toEqual([]);
    const lone = await app.inject({
      method: 'POST',
      url: '/trpc/auth.login?batch=1',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ 0: { email: ada.email, password: ada.password } }),
    });
    expect(lone.statusCode).toBe(200);
    expect(lone.json()).toMatchObject([{ result: { data: { user: { id: ada.user.id } } } }]);
    expect(lone.headers['set-cookie']).toBeDefined();

    // Queries that name auth procedures still batch, as the web app's do.
    const queries = await app.inject({
      method: 'POST',
      url: '/trpc/auth.me,auth.session?batch=1',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({}),
    });
    expect(queries.statusCode).toBe(200);

    const [row] = await loginRows(phos.services);
    expect(row).toMatchObject({ outcome: 'allowed', userId: ada.user.id, ip: '127.0.0.1' });
  });
});

describe('sign-in audit trail (ASVS 7.1.3, 7.2.1; HIPAA 164.312(b))', { timeout: 120_000 }, () => {
  it('records every success, failure, lockout, throttled attempt and disabled account with the email, never a password', async () => {
    const phos = await phosWith({ maxFailuresPerAccount: 3, failuresBeforeDelay: 100 });
    const ada = await accountIn(phos.services);
    const caller = callerAt(phos.services, '203.0.113.19');

    await caller.auth.login({ email: ada.email.toUpperCase(), password: ada.password });
    for (let i = 0; i < 3; i += 1) await trpcError(caller.auth.login({ email: ada.email, password: WRONG }));
    await trpcError(caller.auth.login({ email: ada.email, password: ada.password }));
    await trpcError(caller.auth.login({ email: 'nobody@example.com', password: WRONG }));
    // An account an Admin disabled: the right password is refused, and said so in the trail.
    const grace = await accountIn(phos.services);
    await phos.services.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, grace.user.id));
    expect((await trpcError(caller.auth.login({ email: grace.email, password: grace.password }))).code).toBe('FORBIDDEN');

    const rows = await loginRows(phos.services);
    const lockedFor = rows[4]?.detail.retryAfterSeconds;
    expect(lockedFor).toBeGreaterThan(0);
    expect(rows.map((row) => ({ userId: row.userId, role: row.role, outcome: row.outcome, ip: row.ip, detail: row.detail }))).toEqual([
      {
        userId: ada.user.id,
        role: 'Patient',
        outcome: 'allowed',
        ip: '203.0.113.19',
        detail: { email: ada.email.toUpperCase(), reason: 'signed-in' },
      },
      {
        userId: null,
        role: null,
        outcome: 'refused',
        ip: '203.0.113.19',
        detail: { email: ada.email, reason: 'invalid-credentials', failures: 1 },
      },
      {
        userId: null,
        role: null,
        outcome: 'refused',
        ip: '203.0.113.19',
        detail: { email: ada.email, reason: 'invalid-credentials', failures: 2 },
      },
      { userId: null, role: null, outcome: 'refused', ip: '203.0.113.19', detail: { email: ada.email, reason: 'locked-out', failures: 3 } },
      {
        userId: null,
        role: null,
        outcome: 'refused',
        ip: '203.0.113.19',
        detail: { email: ada.email, reason: 'account-locked', retryAfterSeconds: lockedFor },
      },
      {
        userId: null,
        role: null,
        outcome: 'refused',
        ip: '203.0.113.19',
        detail: { email: 'nobody@example.com', reason: 'invalid-credentials', failures: 1 },
      },
      {
        userId: null,
        role: null,
        outcome: 'refused',
        ip: '203.0.113.19',
        detail: { email: grace.email, reason: 'account-disabled', failures: 1 },
      },
    ]);
    const everything = JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
    expect(everything).not.toContain(WRONG);
    expect(everything).not.toContain(ada.password);
    expect(rows.every((row) => row.requestId !== null)).toBe(true);
    expect(await verifyAuditChain(phos.services.db)).toMatchObject({ ok: true });
  });
});
