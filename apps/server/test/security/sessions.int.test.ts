import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '@phos/shared';
import { configFromEnv } from '../../src/app.js';
import { loadEnv } from '../../src/env.js';
import { buildHttpServer } from '../../src/http/server.js';
import { sessions, users } from '../../src/identity/schema.js';
import { createSession, hashToken, resolveSession } from '../../src/identity/sessions.js';
import { identityDirectory } from '../../src/jobs/notifier.js';
import { PURGE_SCHEDULER, schedulePurge, SESSIONS_QUEUE } from '../../src/jobs/sessions.js';
import { redisOptions } from '../../src/redis/connection.js';
import { silentLogger } from '../../src/trpc/context.js';
import { createPatient, createStaff, eventually, recordStatements, startTestPhos, type TestPhos, trpcError } from '../support.js';
import { appCodeOf, callerInSession, PASSWORD, sessionOf } from './session-support.js';

const MINUTE = 60_000;

async function firstChunk(body: ReadableStream<Uint8Array>): Promise<string> {
  for await (const chunk of body) return new TextDecoder().decode(chunk);
  return '';
}
const HOUR = 60 * MINUTE;

describe('session policy from the environment', () => {
  it('defaults to 15 min idle for staff, 30 min for Patients and 12 h in all', () => {
    const config = configFromEnv(loadEnv({}), silentLogger);
    expect(config.sessionPolicy).toEqual({ staffIdleMs: 15 * MINUTE, patientIdleMs: 30 * MINUTE, absoluteMs: 12 * HOUR });
    expect(config.streamsPerSession).toBe(10);
  });

  it('takes fractional minutes and hours, so tests can use seconds', () => {
    const env = loadEnv({
      PHOS_SESSION_IDLE_STAFF_MINUTES: '0.05',
      PHOS_SESSION_IDLE_PATIENT_MINUTES: '0.1',
      PHOS_SESSION_ABSOLUTE_HOURS: '0.5',
      PHOS_STREAMS_PER_SESSION: '3',
    });
    const config = configFromEnv(env, silentLogger);
    expect(config.sessionPolicy).toEqual({ staffIdleMs: 3000, patientIdleMs: 6000, absoluteMs: 30 * MINUTE });
    expect(config.streamsPerSession).toBe(3);
    expect(() => loadEnv({ PHOS_SESSION_IDLE_STAFF_MINUTES: '0' })).toThrow(/PHOS_SESSION_IDLE_STAFF_MINUTES/);
  });
});

describe('sessions', () => {
  let phos: TestPhos;
  let provider: User;
  let patient: User;

  beforeAll(async () => {
    // The production policy: 15 min staff, 30 min Patients, 12 h.
    phos = await startTestPhos({ sessionPurgeIntervalMs: 300 });
    provider = await createStaff(phos);
    patient = await createPatient(phos);
  });
  afterAll(() => phos.cleanup());

  async function row(token: string) {
    const [found] = await phos.services.db
      .select()
      .from(sessions)
      .where(eq(sessions.tokenHash, hashToken(token)));
    return found;
  }

  async function moveSession(token: string, set: { idleExpiresAt?: Date; expiresAt?: Date; lastSeenAt?: Date }) {
    await phos.services.db
      .update(sessions)
      .set(set)
      .where(eq(sessions.tokenHash, hashToken(token)));
  }

  const resolve = (token: string, renew = true) => resolveSession(phos.services.db, token, phos.services.sessionPolicy, { renew });

  it('starts a staff session with 15 min idle, a Patient one with 30, both ending within 12 h', async () => {
    for (const [user, idle] of [
      [provider, 15 * MINUTE],
      [patient, 30 * MINUTE],
    ] as const) {
      const before = Date.now();
      const session = await createSession(phos.services.db, user, phos.services.sessionPolicy);
      const stored = await row(session.token);
      expect(stored?.tokenHash).not.toBe(session.token);
      expect(stored!.idleExpiresAt.getTime() - before).toBeGreaterThanOrEqual(idle - 50);
      expect(stored!.idleExpiresAt.getTime() - Date.now()).toBeLessThanOrEqual(idle);
      expect(stored!.expiresAt.getTime() - before).toBeGreaterThanOrEqual(12 * HOUR - 50);
      expect(stored!.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(12 * HOUR);
    }
  });

  it('resolves a session without reading the password hash, which every authenticated request would otherwise load', async () => {
    const token = await sessionOf(phos, provider);
    const { sent, restore } = recordStatements(phos);
    try {
      expect((await resolve(token, false))?.user.id).toBe(provider.id);
    } finally {
      restore();
    }
    expect(sent.some((text) => text.includes('"sessions"'))).toBe(true);
    expect(sent.join('\n')).not.toContain('password_hash');
  });

  it('refuses a session whose idle end has passed, though its absolute end has not', async () => {
    const token = await sessionOf(phos, provider);
    expect(await resolve(token)).not.toBeNull();
    await moveSession(token, { idleExpiresAt: new Date(Date.now() - 1000) });
    expect(await resolve(token)).toBeNull();
    expect(await (await callerInSession(phos, token)).auth.me()).toBeNull();
  });

  it('refuses a session past its absolute end, however recent the activity', async () => {
    const token = await sessionOf(phos, provider);
    await moveSession(token, { expiresAt: new Date(Date.now() - 1000) });
    expect(await resolve(token)).toBeNull();
  });

  it('refuses the session of a disabled account', async () => {
    const user = await createStaff(phos);
    const token = await sessionOf(phos, user);
    await phos.services.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, user.id));
    expect(await resolve(token)).toBeNull();
    expect(await resolve(token, false)).toBeNull();
  });

  it('slides the idle end on activity, writing only once it would move by more than a step', async () => {
    const token = await sessionOf(phos, provider);
    const seen = new Date(Date.now() - 5000);
    await moveSession(token, { lastSeenAt: seen });
    // Just created: renewing now would move the end by milliseconds, so nothing is written.
    await resolve(token);
    expect((await row(token))?.lastSeenAt.getTime()).toBe(seen.getTime());

    // Ten minutes of a 15-minute timeout gone: the next request renews it to a full 15 minutes.
    await moveSession(token, { idleExpiresAt: new Date(Date.now() + 5 * MINUTE) });
    const renewed = await resolve(token);
    expect(renewed!.session.idleExpiresAt.getTime()).toBeGreaterThan(Date.now() + 15 * MINUTE - 5000);
    expect((await row(token))?.idleExpiresAt.getTime()).toBe(renewed!.session.idleExpiresAt.getTime());
    expect((await row(token))!.lastSeenAt.getTime()).toBeGreaterThan(seen.getTime());
  });

  it('never renews past the absolute end', async () => {
    const token = await sessionOf(phos, provider);
    const end = new Date(Date.now() + 2 * MINUTE);
    await moveSession(token, { expiresAt: end, idleExpiresAt: new Date(Date.now() + MINUTE) });
    const renewed = await resolve(token);
    expect(renewed!.session.idleExpiresAt.getTime()).toBe(end.getTime());
  });

  it('answers auth.session without renewing it, and auth.keepAlive renews it', async () => {
    const token = await sessionOf(phos, patient);
    const idle = new Date(Date.now() + 10 * MINUTE);
    await moveSession(token, { idleExpiresAt: idle });
    // As the HTTP adapter resolves auth.session: no renewal.
    const state = await (await callerInSession(phos, token, { renew: false })).auth.session();
    expect(state).toEqual({
      idleTimeoutMs: 30 * MINUTE,
      idleExpiresAt: idle.toISOString(),
      expiresAt: (await row(token))!.expiresAt.toISOString(),
    });

    const kept = await (await callerInSession(phos, token, { renew: false })).auth.keepAlive();
    expect(Date.parse(kept.idleExpiresAt)).toBeGreaterThan(Date.now() + 30 * MINUTE - 5000);
    expect((await row(token))!.idleExpiresAt.toISOString()).toBe(kept.idleExpiresAt);

    const staffState = await (await callerInSession(phos, await sessionOf(phos, provider))).auth.session();
    expect(staffState?.idleTimeoutMs).toBe(15 * MINUTE);
  });

  it('answers auth.session null and refuses auth.keepAlive once the session has ended', async () => {
    const token = await sessionOf(phos, provider);
    await moveSession(token, { idleExpiresAt: new Date(Date.now() - 1) });
    const caller = await callerInSession(phos, token);
    expect(await caller.auth.session()).toBeNull();
    expect((await trpcError(caller.auth.keepAlive())).code).toBe('UNAUTHORIZED');
  });

  it('purges expired sessions on the worker, through one BullMQ job scheduler', async () => {
    const live = await sessionOf(phos, provider);
    const idled = await sessionOf(phos, provider);
    const ended = await sessionOf(phos, patient);
    await moveSession(idled, { idleExpiresAt: new Date(Date.now() - 1000) });
    await moveSession(ended, { expiresAt: new Date(Date.now() - 1000), idleExpiresAt: new Date(Date.now() + MINUTE) });
    await eventually(async () => (await row(idled)) === undefined && (await row(ended)) === undefined);
    expect(await row(live)).toBeDefined();

    // A second worker process upserts the same scheduler: still one job per interval.
    const connection = new Redis({ ...redisOptions(phos.redisTarget), maxRetriesPerRequest: null });
    const queue = new Queue(SESSIONS_QUEUE, { connection, prefix: phos.prefix });
    try {
      await schedulePurge(queue, 300);
      const schedulers = await queue.getJobSchedulers();
      expect(schedulers.map((scheduler) => scheduler.key)).toEqual([PURGE_SCHEDULER]);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it('counts as signed-in Providers only those with a live session on an enabled account', async () => {
    const [live, idled, disabled] = await Promise.all([1, 2, 3].map(() => createStaff(phos)));
    await sessionOf(phos, live!);
    await moveSession(await sessionOf(phos, idled!), { idleExpiresAt: new Date(Date.now() - 1000) });
    await sessionOf(phos, disabled!);
    await phos.services.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, disabled!.id));
    const signedIn = await identityDirectory.signedInProviders(phos.services.db);
    expect(signedIn).toContain(live!.id);
    expect(signedIn).not.toContain(idled!.id);
    expect(signedIn).not.toContain(disabled!.id);
    expect(await identityDirectory.providers(phos.services.db)).not.toContain(disabled!.id);
  });

  describe('the cookie', () => {
    async function login(server: Awaited<ReturnType<typeof buildHttpServer>>, user: User, headers: Record<string, string> = {}) {
      return server.inject({ method: 'POST', url: '/trpc/auth.login', payload: { email: user.email, password: PASSWORD }, headers });
    }

    it('is a session cookie over http: phos_session, HttpOnly, SameSite=Lax, path /, no Expires or Max-Age', async () => {
      const server = await buildHttpServer({ phos, log: silentLogger });
      try {
        const response = await login(server, provider);
        expect(response.statusCode).toBe(200);
        const header = [response.headers['set-cookie']].flat().find((value) => value?.startsWith('phos_session='));
        expect(header).toBeDefined();
        expect(header).toMatch(/; HttpOnly/i);
        expect(header).toMatch(/; SameSite=Lax/i);
        expect(header).toMatch(/; Path=\//i);
        expect(header).not.toMatch(/Expires=|Max-Age=/i);
        expect(header).not.toMatch(/; Secure/i);
      } finally {
        await server.close();
      }
    });

    it('is __Host-phos_session and Secure over https, read only under that name, and cleared on logout', async () => {
      const server = await buildHttpServer({ phos, log: silentLogger, trustProxy: { hops: 1 } });
      const https = { 'x-forwarded-proto': 'https' };
      try {
        const response = await login(server, provider, https);
        expect(response.statusCode).toBe(200);
        const header = [response.headers['set-cookie']].flat().find((value) => value?.startsWith('__Host-phos_session='));
        expect(header).toBeDefined();
        expect(header).toMatch(/; Secure/i);
        expect(header).toMatch(/; Path=\/(;|$)/i);
        expect(header).not.toMatch(/Domain=|Expires=|Max-Age=/i);
        expect([response.headers['set-cookie']].flat().some((value) => value?.startsWith('phos_session='))).toBe(false);
        const token = response.cookies.find((cookie) => cookie.name === '__Host-phos_session')!.value;

        const me = (cookie: string, headers = https) =>
          server.inject({ method: 'POST', url: '/trpc/auth.me', payload: {}, headers: { ...headers, cookie } });
        expect((await me(`__Host-phos_session=${token}`)).json()).toMatchObject({ result: { data: { id: provider.id } } });
        // The unprefixed name is the plain-http cookie: over https it is not a session.
        expect((await me(`phos_session=${token}`)).json()).toMatchObject({ result: { data: null } });

        const logout = await server.inject({
          method: 'POST',
          url: '/trpc/auth.logout',
          payload: {},
          headers: { ...https, cookie: `__Host-phos_session=${token}` },
        });
        expect(logout.statusCode).toBe(200);
        const cleared = [logout.headers['set-cookie']].flat().find((value) => value?.startsWith('__Host-phos_session='));
        expect(cleared).toMatch(/Expires=Thu, 01 Jan 1970|Max-Age=0/i);
        expect(cleared).toMatch(/; Secure/i);
        expect(await row(token)).toBeUndefined();
      } finally {
        await server.close();
      }
    });
  });

  describe('over HTTP', () => {
    it('renews on requests but not on a stream, nor on auth.session', async () => {
      const server = await buildHttpServer({ phos, log: silentLogger });
      await server.listen({ port: 0, host: '127.0.0.1' });
      const address = server.server.address();
      const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      const token = await sessionOf(phos, provider);
      const cookie = `phos_session=${token}`;
      const idle = new Date(Date.now() + 5 * MINUTE);
      await moveSession(token, { idleExpiresAt: idle });
      const controller = new AbortController();
      try {
        const stream = await fetch(`${base}/trpc/queue.onChange`, {
          headers: { cookie, accept: 'text/event-stream' },
          signal: controller.signal,
        });
        expect(stream.status).toBe(200);
        expect(await firstChunk(stream.body!)).toContain('event: connected');
        expect((await row(token))!.idleExpiresAt.getTime()).toBe(idle.getTime());
        controller.abort();

        const post = (path: string) =>
          fetch(`${base}/trpc/${path}`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' });
        expect((await post('auth.session')).status).toBe(200);
        expect((await row(token))!.idleExpiresAt.getTime()).toBe(idle.getTime());

        expect((await post('auth.me')).status).toBe(200);
        expect((await row(token))!.idleExpiresAt.getTime()).toBeGreaterThan(Date.now() + 15 * MINUTE - 5000);
      } finally {
        controller.abort();
        await server.close();
      }
    });
  });

  it('answers ACCOUNT_DISABLED to the right password of a disabled account, and INVALID_CREDENTIALS to a wrong one', async () => {
    const user = await createStaff(phos);
    await phos.services.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, user.id));
    const anonymous = await callerInSession(phos, randomBytes(32).toString('base64url'));
    const right = await trpcError(anonymous.auth.login({ email: user.email, password: PASSWORD }));
    expect(appCodeOf(right)).toBe('ACCOUNT_DISABLED');
    const wrong = await trpcError(anonymous.auth.login({ email: user.email, password: 'not-the-password-at-all' }));
    expect(appCodeOf(wrong)).toBe('INVALID_CREDENTIALS');
    const count = await phos.services.db
      .select()
      .from(sessions)
      .where(inArray(sessions.userId, [user.id]));
    expect(count).toHaveLength(0);
  });
});
