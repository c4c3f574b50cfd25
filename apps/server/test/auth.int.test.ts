import { count } from 'drizzle-orm';
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVALID_CREDENTIALS_MESSAGE, type User } from '@phos/shared';
import { outbox } from '../src/outbox/schema.js';
import { buildHttpServer } from '../src/http/server.js';
import { sessions, users } from '../src/identity/schema.js';
import { findUserByEmail } from '../src/identity/users.js';
import { silentLogger } from '../src/trpc/context.js';
import {
  callerFor,
  createStaff,
  eventually,
  patientInput,
  recordingCookie,
  startTestPhos,
  type TestPhos,
  trpcError,
  trpcErrors,
} from './support.js';

function fieldErrors(error: TRPCError): Record<string, string[]> {
  const cause = error.cause as { issues?: { path: PropertyKey[]; message: string }[] } | undefined;
  const fields: Record<string, string[]> = {};
  for (const issue of cause?.issues ?? []) (fields[String(issue.path[0])] ??= []).push(issue.message);
  return fields;
}

describe('identity and access', () => {
  let phos: TestPhos;
  let admin: User;
  let provider: User;

  async function rowCounts() {
    const [userCount] = await phos.services.db.select({ n: count() }).from(users);
    const [outboxCount] = await phos.services.db.select({ n: count() }).from(outbox);
    return { users: userCount?.n, outbox: outboxCount?.n };
  }

  beforeAll(async () => {
    phos = await startTestPhos();
    admin = await createStaff(phos, 'Admin');
    provider = await createStaff(phos);
  });
  afterAll(() => phos.cleanup());

  describe('auth.register validation', () => {
    const invalid: [field: string, value: unknown][] = [
      ['email', 'not-an-email'],
      ['email', ''],
      ['password', 'short-pass'],
      ['firstName', '   '],
      ['lastName', ''],
      ['lastName', 'x'.repeat(101)],
      ['dateOfBirth', '1990-02-30'],
      ['dateOfBirth', '12/03/1990'],
      ['dateOfBirth', '2999-01-01'],
      ['dateOfBirth', '1850-01-01'],
    ];

    it.each(invalid)('refuses %s = %j with BAD_REQUEST on that field and writes nothing', async (field, value) => {
      const before = await rowCounts();
      const error = await trpcError(callerFor(phos).auth.register({ ...patientInput(), [field]: value }));
      expect(error.code).toBe('BAD_REQUEST');
      expect(Object.keys(fieldErrors(error))).toEqual([field]);
      expect(await rowCounts()).toEqual(before);
    });

    it('refuses a registration with a missing field', async () => {
      const { firstName: _firstName, ...withoutFirstName } = patientInput();
      const error = await trpcError(callerFor(phos).auth.register(withoutFirstName as never));
      expect(error.code).toBe('BAD_REQUEST');
      expect(Object.keys(fieldErrors(error))).toEqual(['firstName']);
    });

    it('refuses an email already used, in any case, with CONFLICT and writes nothing', async () => {
      const input = patientInput({ email: 'Taken.Person@Example.com' });
      await callerFor(phos).auth.register(input);
      const before = await rowCounts();
      const error = await trpcError(callerFor(phos).auth.register({ ...patientInput(), email: 'taken.person@example.COM' }));
      expect(error.code).toBe('CONFLICT');
      expect(await rowCounts()).toEqual(before);
    });

    it('signs the new Patient in', async () => {
      const cookie = recordingCookie();
      const { user } = await callerFor(phos, null, cookie).auth.register(patientInput());
      expect(user.role).toBe('Patient');
      expect(cookie.token).toEqual(expect.any(String));
    });
  });

  describe('auth.login', () => {
    it('signs in with the password, whatever the case of the email', async () => {
      const input = patientInput({ email: 'Mixed.Case@Example.com' });
      await callerFor(phos).auth.register(input);
      const cookie = recordingCookie();
      const { user } = await callerFor(phos, null, cookie).auth.login({ email: 'mixed.case@example.com', password: input.password });
      expect(user.email).toBe('Mixed.Case@Example.com');
      expect(cookie.token).not.toBeNull();
    });

    it('gives one answer for an unknown email and a wrong password', async () => {
      const input = patientInput();
      await callerFor(phos).auth.register(input);
      const wrongPassword = await trpcError(callerFor(phos).auth.login({ email: input.email, password: 'wrong-password-1' }));
      const unknownEmail = await trpcError(callerFor(phos).auth.login({ email: 'nobody@example.com', password: input.password }));
      for (const error of [wrongPassword, unknownEmail]) {
        expect(error.code).toBe('UNAUTHORIZED');
        expect(error.message).toBe(INVALID_CREDENTIALS_MESSAGE);
      }
    });

    it('stores passwords as argon2id with at least 19 MiB and 2 passes', async () => {
      const input = patientInput();
      await callerFor(phos).auth.register(input);
      const row = await findUserByEmail(phos.services.db, input.email);
      const params = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=\d+\$/.exec(row?.passwordHash ?? '');
      expect(Number(params?.[1])).toBeGreaterThanOrEqual(19_456);
      expect(Number(params?.[2])).toBeGreaterThanOrEqual(2);
      expect(row?.passwordHash).not.toContain(input.password);
    });
  });

  describe('authorisation', () => {
    let patient: User;
    let patientId: string;
    let otherPatientId: string;

    beforeAll(async () => {
      ({ user: patient } = await callerFor(phos).auth.register(patientInput()));
      const { user: other } = await callerFor(phos).auth.register(patientInput());
      patientId = await eventually(async () => (await callerFor(phos, patient).registrant.status()).patientId);
      otherPatientId = await eventually(async () => (await callerFor(phos, other).registrant.status()).patientId);
    });

    it('refuses anonymous callers queue.* and admin.* with UNAUTHORIZED', async () => {
      const anonymous = callerFor(phos);
      for (const error of await trpcErrors([
        anonymous.queue.list(),
        anonymous.queue.onChange(),
        anonymous.admin.createUser({ ...patientInput(), role: 'Admin' }),
        anonymous.patients.byId({ id: patientId }),
        anonymous.registrant.status(),
      ])) {
        expect(error.code).toBe('UNAUTHORIZED');
      }
    });

    it('refuses Patients queue.* and admin.* with FORBIDDEN', async () => {
      const before = await rowCounts();
      const asPatient = callerFor(phos, patient);
      for (const error of await trpcErrors([
        asPatient.queue.list(),
        asPatient.queue.onChange(),
        asPatient.admin.createUser({ ...patientInput(), role: 'Admin' }),
      ])) {
        expect(error.code).toBe('FORBIDDEN');
      }
      expect(await rowCounts()).toEqual(before);
    });

    it('refuses Providers admin.*', async () => {
      const error = await trpcError(callerFor(phos, provider).admin.createUser({ ...patientInput(), role: 'Admin' }));
      expect(error.code).toBe('FORBIDDEN');
    });

    it('lets a Patient read their own record and not another patient', async () => {
      const own = await callerFor(phos, patient).patients.byId({ id: patientId });
      expect(own).toMatchObject({ id: patientId, firstName: 'Ada', queueStatus: 'waiting' });
      const error = await trpcError(callerFor(phos, patient).patients.byId({ id: otherPatientId }));
      expect(error.code).toBe('FORBIDDEN');
    });

    it('lets staff read any patient and the queue', async () => {
      for (const staff of [provider, admin]) {
        const record = await callerFor(phos, staff).patients.byId({ id: otherPatientId });
        expect(record.id).toBe(otherPatientId);
        const { entries } = await callerFor(phos, staff).queue.list();
        expect(entries.map((entry) => entry.patientId)).toContain(otherPatientId);
      }
      const missing = await trpcError(callerFor(phos, provider).patients.byId({ id: '00000000-0000-4000-8000-000000000000' }));
      expect(missing.code).toBe('NOT_FOUND');
    });

    it('refuses admin.createUser a Patient without a date of birth', async () => {
      const { dateOfBirth: _dateOfBirth, ...input } = patientInput();
      const error = await trpcError(callerFor(phos, admin).admin.createUser({ ...input, role: 'Patient' }));
      expect(error.code).toBe('BAD_REQUEST');
      expect(Object.keys(fieldErrors(error))).toEqual(['dateOfBirth']);
    });

    it('lets registrant.status answer only Patients', async () => {
      expect((await trpcError(callerFor(phos, provider).registrant.status())).code).toBe('FORBIDDEN');
    });
  });

  describe('over HTTP', () => {
    async function http() {
      const server = await buildHttpServer({ phos, log: silentLogger });
      return server;
    }

    it('sets an HttpOnly SameSite session cookie, and logout deletes the session', async () => {
      const server = await http();
      try {
        const input = patientInput();
        const registered = await server.inject({ method: 'POST', url: '/trpc/auth.register', payload: input });
        expect(registered.statusCode).toBe(200);
        const cookie = registered.cookies.find((c) => c.name === 'phos_session');
        expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
        expect(cookie?.secure).toBeFalsy();

        const headers = { cookie: `phos_session=${cookie?.value}` };
        const me = await server.inject({ method: 'POST', url: '/trpc/auth.me', headers, payload: {} });
        expect(me.json()).toMatchObject({ result: { data: { email: input.email } } });

        const [before] = await phos.services.db.select({ n: count() }).from(sessions);
        const logout = await server.inject({ method: 'POST', url: '/trpc/auth.logout', headers, payload: {} });
        expect(logout.statusCode).toBe(200);
        const [after] = await phos.services.db.select({ n: count() }).from(sessions);
        expect(after?.n).toBe((before?.n ?? 0) - 1);
        const meAfter = await server.inject({ method: 'POST', url: '/trpc/auth.me', headers, payload: {} });
        expect(meAfter.json()).toMatchObject({ result: { data: null } });
      } finally {
        await server.close();
      }
    });

    it('marks the cookie Secure behind https', async () => {
      const server = await buildHttpServer({ phos, log: silentLogger, trustProxy: { hops: 1 } });
      try {
        const response = await server.inject({
          method: 'POST',
          url: '/trpc/auth.register',
          payload: patientInput(),
          headers: { 'x-forwarded-proto': 'https' },
        });
        // Over https the cookie is __Host- prefixed (see test/security/sessions.int.test.ts).
        expect(response.cookies.find((c) => c.name === '__Host-phos_session')?.secure).toBe(true);
      } finally {
        await server.close();
      }
    });

    it('accepts only JSON request bodies', async () => {
      const server = await http();
      try {
        const before = await rowCounts();
        const form = await server.inject({
          method: 'POST',
          url: '/trpc/auth.register',
          payload: new URLSearchParams(patientInput()).toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        expect(form.statusCode).toBe(415);
        const text = await server.inject({
          method: 'POST',
          url: '/trpc/auth.register',
          payload: JSON.stringify(patientInput()),
          headers: { 'content-type': 'text/plain' },
        });
        expect(text.statusCode).toBe(415);
        expect(await rowCounts()).toEqual(before);
      } finally {
        await server.close();
      }
    });

    it('answers invalid input with 400 and the failing fields, and no stack', async () => {
      const server = await http();
      try {
        const response = await server.inject({
          method: 'POST',
          url: '/trpc/auth.register',
          payload: { ...patientInput(), password: 'short' },
        });
        expect(response.statusCode).toBe(400);
        const body = response.json<{ error: { data: { zodError: { fieldErrors: unknown }; stack?: unknown } } }>();
        expect(body.error.data.zodError.fieldErrors).toEqual({ password: [expect.any(String)] });
        expect(body.error.data.stack).toBeUndefined();
      } finally {
        await server.close();
      }
    });

    it('answers queries sent as POST, so inputs need not sit in a URL', async () => {
      const server = await http();
      try {
        const input = patientInput();
        const registered = await server.inject({ method: 'POST', url: '/trpc/auth.register', payload: input });
        const cookie = registered.cookies.find((c) => c.name === 'phos_session');
        const me = await server.inject({
          method: 'POST',
          url: '/trpc/auth.me',
          headers: { cookie: `phos_session=${cookie?.value}` },
          payload: {},
        });
        expect(me.statusCode).toBe(200);
        expect(me.json()).toMatchObject({ result: { data: { email: input.email } } });
      } finally {
        await server.close();
      }
    });

    it('reports health and readiness', async () => {
      const server = await http();
      try {
        expect((await server.inject({ url: '/healthz' })).statusCode).toBe(200);
        const ready = await server.inject({ url: '/readyz' });
        expect(ready.statusCode).toBe(200);
        expect(ready.json()).toEqual({ status: 'ready', checks: { database: true, redis: true, worker: true } });
      } finally {
        await server.close();
      }
    });
  });
});
