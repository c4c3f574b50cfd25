import { randomBytes, randomUUID } from 'node:crypto';
import { setImmediate as nextLoopTurn } from 'node:timers/promises';
import { TRPCError } from '@trpc/server';
import { z, ZodError } from 'zod';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { ensureFirstAdmin } from '../../src/identity/bootstrap.js';
import { passwordScorer, passwordWeakness } from '../../src/identity/passwordPolicy.js';
import { buildHttpServer } from '../../src/http/server.js';
import { silentLogger } from '../../src/trpc/context.js';
import { requireStrongPassword } from '../../src/trpc/strongPassword.js';
import { callerFor, createStaff, patientInput, startTestPhos, TEST_PASSWORD, type TestPhos, trpcError } from '../support.js';

/** The message the form shows under the password field. */
function passwordFieldError(error: TRPCError, field = 'password'): string | undefined {
  expect(error.code).toBe('BAD_REQUEST');
  expect(error.cause).toBeInstanceOf(ZodError);
  const fieldErrors = z.flattenError(error.cause as ZodError).fieldErrors as Record<string, string[] | undefined>;
  return fieldErrors[field]?.[0];
}

const ada = {
  email: 'ada.lovelace@example.com',
  firstName: 'Ada',
  lastName: 'Lovelace',
  dateOfBirth: '1985-12-10',
};

describe('password policy (ASVS 2.1.1, 2.1.7, 2.1.8)', { timeout: 120_000 }, () => {
  let phos: TestPhos;
  beforeAll(async () => {
    phos = await startTestPhos();
    return () => phos.cleanup();
  });

  it.each([
    ['a common password', 'password1234', /^Too easy to guess: add another word or two\. This is similar to a commonly used password\.$/],
    ['one character repeated', 'aaaaaaaaaaaa', /^Too easy to guess: add another word or two\. Repeated characters/],
    ['a keyboard row', 'qwertyuiop123', /^Too easy to guess/],
    // Substitutions are still seen through with the l33t matcher capped (l33tMaxSubstitutions).
    ['a common password in l33t', 'p4ssw0rd1234', /^Too easy to guess/],
    ['another in l33t', 'l3tm31n!l3tm31n!', /^Too easy to guess/],
    ['only spaces', '            ', /^Password cannot be only spaces$/],
    ['padding around a short one', '    abc     ', /^Password must be at least 12 characters, not counting extra spaces$/],
    [
      "the person's own name and birth year",
      'ada.lovelace1985',
      /^Too easy to guess: add another word or two\. There should not be any personal/,
    ],
    ['their name folded together', 'AdaLovelace-1985', /^Too easy to guess/],
  ])('registration refuses %s under the password field', async (_what, password, message) => {
    const error = await trpcError(callerFor(phos).auth.register({ ...ada, email: `ada-${randomUUID()}@example.com`, password }));
    expect(passwordFieldError(error)).toMatch(message);
  });

  it('judges the name against the person registering: the same password is fine for someone else', async () => {
    expect(await passwordWeakness('ada.lovelace1985', ada)).not.toBeNull();
    expect(
      await passwordWeakness('ada.lovelace1985', { email: 'g.hopper@example.com', firstName: 'Grace', lastName: 'Hopper' }),
    ).toBeNull();
  });

  it('accepts a passphrase, and the passwords the tests, e2e run and demo seed use', async () => {
    const { user } = await callerFor(phos).auth.register({ ...ada, password: 'tangerine kettle drizzle' });
    expect(user.email).toBe(ada.email);
    const e2eId = randomUUID().slice(0, 8);
    expect(await passwordWeakness('correct-horse-battery', patientInput())).toBeNull();
    expect(
      await passwordWeakness(`correct-horse-${e2eId}`, {
        email: `e2e-${e2eId}@phos.test`,
        firstName: 'Test',
        lastName: `E2e-${e2eId}`,
        dateOfBirth: '1984-06-15',
      }),
    ).toBeNull();
    expect(
      await passwordWeakness('e2e-admin-password-1', { email: 'e2e-admin@phos.test', firstName: 'Phos', lastName: 'Admin' }),
    ).toBeNull();
    expect(await passwordWeakness('phos-demo-password', { email: 'demo@phos.test' })).toBeNull();
  });

  it('applies to accounts an Admin creates', async () => {
    const admin = await createStaff(phos, 'Admin');
    const error = await trpcError(
      callerFor(phos, admin).admin.createUser({
        email: `dr-${randomUUID()}@example.com`,
        password: 'Password1234',
        firstName: 'Gregory',
        lastName: 'House',
        role: 'Provider',
      }),
    );
    expect(passwordFieldError(error)).toMatch(/^Too easy to guess/);
    const { user } = await callerFor(phos, admin).admin.createUser({
      email: `dr-${randomUUID()}@example.com`,
      password: 'lantern orchard velvet',
      firstName: 'Gregory',
      lastName: 'House',
      role: 'Provider',
    });
    expect(user.role).toBe('Provider');
  });

  it('reports a check made inside a procedure (password change, reset) on the field it names', async () => {
    const thrown = await trpcError(requireStrongPassword('ada.lovelace1985', ada, 'newPassword'));
    expect(passwordFieldError(thrown, 'newPassword')).toMatch(/^Too easy to guess/);
    await expect(requireStrongPassword('tangerine kettle drizzle', ada, 'newPassword')).resolves.toBeUndefined();
  });

  it('applies to a password change and to an Admin reset, under the new password field', async () => {
    const provider = await createStaff(phos, 'Provider', { firstName: 'Gregory', lastName: 'House' });
    const changed = await trpcError(
      callerFor(phos, provider).auth.changePassword({ currentPassword: TEST_PASSWORD, newPassword: 'GregoryHouse1' }),
    );
    expect(passwordFieldError(changed, 'newPassword')).toMatch(/^Too easy to guess/);
    const admin = await createStaff(phos, 'Admin');
    const reset = await trpcError(callerFor(phos, admin).admin.resetPassword({ id: provider.id, password: 'password1234' }));
    expect(passwordFieldError(reset)).toMatch(/^Too easy to guess/);
  });

  it('scores in its own thread: the event loop keeps turning while a slow password is scored', async () => {
    await passwordWeakness('warm the scorer up', ada);
    const before = passwordScorer().completed;
    // Random hex is zxcvbn's slowest case (every digit a l33t substitution): ~100× a passphrase.
    let settled = false;
    const scoring = passwordWeakness(randomBytes(16).toString('hex'), ada).finally(() => (settled = true));
    await nextLoopTurn();
    expect(settled).toBe(false);
    expect(await scoring).toBeNull();
    expect(passwordScorer().completed).toBe(before + 1);
    expect(passwordScorer().threads).toHaveLength(1);
  });

  it('survives its scoring thread dying: that check fails as INTERNAL, the next one works', async () => {
    await passwordWeakness('warm the scorer up', ada);
    const pool = passwordScorer();
    const [thread] = pool.threads;
    const run = pool.run.bind(pool);
    // The thread dies while it scores this registration's password.
    const spy = vi.spyOn(pool, 'run').mockImplementationOnce((task, options) => {
      const result = run(task, options);
      void thread?.terminate();
      return result;
    });
    const email = `ada-${randomUUID()}@example.com`;
    const error = await trpcError(callerFor(phos).auth.register({ ...ada, email, password: 'tangerine kettle drizzle' }));
    expect(error.code).toBe('INTERNAL_SERVER_ERROR');
    spy.mockRestore();
    const { user } = await callerFor(phos).auth.register({ ...ada, email, password: 'tangerine kettle drizzle' });
    expect(user.email).toBe(email);
    expect(passwordScorer().threads).toHaveLength(1);
    expect(passwordScorer().threads[0]).not.toBe(thread);
  });

  it('answers BUSY, not never, when a check waits past its deadline for the thread', async () => {
    const pool = passwordScorer();
    const run = pool.run.bind(pool);
    // As if PASSWORD_CHECK_TIMEOUT_MS had passed: piscina's own abort, on the signal Phos gives it.
    const spy = vi.spyOn(pool, 'run').mockImplementationOnce((task, options) => {
      const signal = options?.signal as AbortSignal;
      const controller = new AbortController();
      signal.addEventListener('abort', () => controller.abort(signal.reason));
      controller.abort(new DOMException('timed out', 'TimeoutError'));
      return run(task, { ...options, signal: controller.signal });
    });
    const error = await trpcError(
      callerFor(phos).auth.register({ ...ada, email: `ada-${randomUUID()}@example.com`, password: 'tangerine kettle drizzle' }),
    );
    spy.mockRestore();
    expect(error.code).toBe('SERVICE_UNAVAILABLE');
    expect(error.message).toMatch(/try again/);
    expect(await passwordWeakness('tangerine kettle drizzle', ada)).toBeNull();
  });

  it('shows the web form the message under the field over HTTP, without echoing the password', async () => {
    const app = await buildHttpServer({ phos, log: silentLogger });
    try {
      const response = await app.inject({
        method: 'POST',
        url: '/trpc/auth.register',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ ...ada, email: `ada-${randomUUID()}@example.com`, password: 'password1234' }),
      });
      expect(response.statusCode).toBe(400);
      const body = response.json<{ error: { data: { zodError: { fieldErrors: Record<string, string[]> } } } }>();
      expect(body.error.data.zodError.fieldErrors.password?.[0]).toMatch(/^Too easy to guess: add another word or two\./);
      expect(response.body).not.toContain('password1234');
    } finally {
      await app.close();
    }
  });

  it('refuses to create the first Admin from a guessable PHOS_ADMIN_PASSWORD', async () => {
    const fresh = await startTestPhos();
    try {
      await expect(ensureFirstAdmin(fresh.services.db, { email: 'admin@example.com', password: 'password1234' })).rejects.toThrow(
        /^PHOS_ADMIN_PASSWORD is refused: Too easy to guess/,
      );
      await expect(ensureFirstAdmin(fresh.services.db, { email: 'admin@example.com', password: 'lantern orchard velvet' })).resolves.toBe(
        'created',
      );
    } finally {
      await fresh.cleanup();
    }
  });
});
