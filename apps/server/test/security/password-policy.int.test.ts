import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { z, ZodError } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFirstAdmin } from '../../src/identity/bootstrap.js';
import { passwordWeakness } from '../../src/identity/passwordPolicy.js';
import { buildHttpServer } from '../../src/http/server.js';
import { silentLogger } from '../../src/trpc/context.js';
import { requireStrongPassword } from '../../src/trpc/strongPassword.js';
import { callerFor, createStaff, patientInput, startTestPhos, type TestPhos, trpcError } from '../support.js';

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

  it('judges the name against the person registering: the same password is fine for someone else', () => {
    expect(passwordWeakness('ada.lovelace1985', ada)).not.toBeNull();
    expect(passwordWeakness('ada.lovelace1985', { email: 'g.hopper@example.com', firstName: 'Grace', lastName: 'Hopper' })).toBeNull();
  });

  it('accepts a passphrase, and the passwords the tests, e2e run and demo seed use', async () => {
    const { user } = await callerFor(phos).auth.register({ ...ada, password: 'tangerine kettle drizzle' });
    expect(user.email).toBe(ada.email);
    const e2eId = randomUUID().slice(0, 8);
    expect(passwordWeakness('correct-horse-battery', patientInput())).toBeNull();
    expect(
      passwordWeakness(`correct-horse-${e2eId}`, {
        email: `e2e-${e2eId}@phos.test`,
        firstName: 'Test',
        lastName: `E2e-${e2eId}`,
        dateOfBirth: '1984-06-15',
      }),
    ).toBeNull();
    expect(passwordWeakness('e2e-admin-password-1', { email: 'e2e-admin@phos.test', firstName: 'Phos', lastName: 'Admin' })).toBeNull();
    expect(passwordWeakness('phos-demo-password', { email: 'demo@phos.test' })).toBeNull();
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

  it('reports a check made inside a procedure (password change, reset) on the field it names', () => {
    let thrown: unknown;
    try {
      requireStrongPassword('ada.lovelace1985', ada, 'newPassword');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TRPCError);
    expect(passwordFieldError(thrown as TRPCError, 'newPassword')).toMatch(/^Too easy to guess/);
    expect(() => requireStrongPassword('tangerine kettle drizzle', ada, 'newPassword')).not.toThrow();
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
