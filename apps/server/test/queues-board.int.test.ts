import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '@phos/shared';
import { buildHttpServer } from '../src/http/server.js';
import { silentLogger } from '../src/trpc/context.js';
import { createStaff, startTestPhos, TEST_PASSWORD, type TestPhos } from './support.js';

describe('the raw queue view at /admin/queues (bull-board, issue 10)', () => {
  let phos: TestPhos;
  let server: Awaited<ReturnType<typeof buildHttpServer>>;
  let admin: User;
  let provider: User;

  beforeAll(async () => {
    phos = await startTestPhos();
    server = await buildHttpServer({ phos, log: silentLogger });
    admin = await createStaff(phos, 'Admin');
    provider = await createStaff(phos, 'Provider');
  });
  afterAll(async () => {
    await server.close();
    await phos.cleanup();
  });

  async function cookieOf(user: User): Promise<string> {
    const response = await server.inject({
      method: 'POST',
      url: '/trpc/auth.login',
      payload: { email: user.email, password: TEST_PASSWORD },
    });
    expect(response.statusCode).toBe(200);
    const header = [response.headers['set-cookie']].flat().find((value) => value?.startsWith('phos_session='));
    return header!.split(';')[0]!;
  }

  it('is for Admins only: 401 signed out, 403 for a Provider, on the page and on its API', async () => {
    for (const url of ['/admin/queues', '/admin/queues/api/queues']) {
      expect((await server.inject({ method: 'GET', url })).statusCode).toBe(401);
      expect((await server.inject({ method: 'GET', url, headers: { cookie: await cookieOf(provider) } })).statusCode).toBe(403);
    }
  });

  it("shows an Admin the registrations queue, read-only, under a policy that lets the board's page load", async () => {
    const cookie = await cookieOf(admin);
    const page = await server.inject({ method: 'GET', url: '/admin/queues', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('__UI_CONFIG__');
    expect(page.headers['content-security-policy']).toContain("base-uri 'self'");
    // Its scripts come from Phos itself, relative to the board's <base>, as script-src 'self' asks.
    const scripts = [...page.body.matchAll(/src="(static\/js\/[^"]+)"/g)].map((match) => match[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) {
      const asset = await server.inject({ method: 'GET', url: `/admin/queues/${script}`, headers: { cookie } });
      expect(asset.statusCode, script).toBe(200);
      expect(asset.headers['content-type']).toMatch(/javascript/);
    }
    // Elsewhere the policy stays as strict as it was.
    expect((await server.inject({ method: 'GET', url: '/healthz' })).headers['content-security-policy']).toContain("base-uri 'none'");

    const api = await server.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie } });
    expect(api.statusCode).toBe(200);
    const { queues } = api.json<{ queues: { name: string; readOnlyMode: boolean }[] }>();
    expect(queues.map((queue) => [queue.name, queue.readOnlyMode])).toEqual([['registrations', true]]);
  });
});
