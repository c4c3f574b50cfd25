import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpServer } from '../../src/http/server.js';
import { silentLogger } from '../../src/trpc/context.js';
import { startTestPhos } from '../support.js';
import { listening, signedIn } from './http-support.js';

describe('request methods and origins (ASVS V13.2.1, V13.1.3, V14.5.3, V4.2.2)', () => {
  let phos: Awaited<ReturnType<typeof startTestPhos>>;
  let server: Awaited<ReturnType<typeof buildHttpServer>>;
  let provider: { cookie: string };

  beforeAll(async () => {
    phos = await startTestPhos();
    server = await buildHttpServer({ phos, log: silentLogger });
    provider = await signedIn(server, phos, 'Provider');
  });
  afterAll(async () => {
    await server.close();
    await phos.cleanup();
  });

  it('refuses queries over GET with 405, so no input lands in a URL or an access log', async () => {
    const input = encodeURIComponent(JSON.stringify({ id: '00000000-0000-4000-8000-000000000000' }));
    const urls = [
      '/trpc/queue.list',
      `/trpc/patients.byId?input=${input}`,
      '/trpc/auth.me,queue.list?batch=1',
      '/trpc/queue.onChange,queue.list?batch=1',
      // The router decodes escapes: these reach tRPC too, so they must meet the same rule.
      '/%74rpc/queue.list',
      '/trpc/queue%2Elist',
    ];
    for (const url of urls) {
      const response = await server.inject({ method: 'GET', url, headers: { cookie: provider.cookie } });
      expect({ url, status: response.statusCode }).toEqual({ url, status: 405 });
      expect(response.headers.allow).toBe('POST');
      expect(response.json()).toMatchObject({ error: { message: 'Send queries as POST with a JSON body', data: { httpStatus: 405 } } });
    }
    // The same query as POST is answered.
    const post = await server.inject({ method: 'POST', url: '/trpc/queue.list', headers: { cookie: provider.cookie }, payload: {} });
    expect(post.statusCode).toBe(200);
  });

  it('still opens a subscription over GET (EventSource), answered no-store', async () => {
    const { base } = await listening(server);
    const abort = new AbortController();
    try {
      const response = await fetch(`${base}/trpc/queue.onChange`, {
        headers: { cookie: provider.cookie, accept: 'text/event-stream' },
        signal: abort.signal,
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(response.headers.get('cache-control')).toBe('no-store, no-transform');
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      const reader: ReadableStreamDefaultReader<Uint8Array> = response.body!.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toContain('connected');
    } finally {
      abort.abort();
    }
  });

  it('refuses /trpc requests a browser marks as cross-site, and lets same-origin and non-browser ones through', async () => {
    const register = (headers: Record<string, string>) =>
      server.inject({ method: 'POST', url: '/trpc/auth.me', headers: { host: 'phos.example:3000', ...headers }, payload: {} });
    const matrix: [string, Record<string, string>, number][] = [
      ['no Origin, no Sec-Fetch-Site (curl, a server)', {}, 200],
      ['Sec-Fetch-Site: same-origin', { 'sec-fetch-site': 'same-origin' }, 200],
      ['Sec-Fetch-Site: none', { 'sec-fetch-site': 'none' }, 200],
      ['this origin', { origin: 'http://phos.example:3000' }, 200],
      ['this origin, same-origin fetch', { origin: 'http://phos.example:3000', 'sec-fetch-site': 'same-origin' }, 200],
      ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }, 403],
      ['Sec-Fetch-Site: same-site (a sibling subdomain)', { 'sec-fetch-site': 'same-site' }, 403],
      ['another origin', { origin: 'https://evil.example' }, 403],
      ['this host over another scheme', { origin: 'https://phos.example:3000' }, 403],
      ['this host on another port', { origin: 'http://phos.example:8080' }, 403],
      ['an opaque origin', { origin: 'null' }, 403],
      ['a same-origin claim with a foreign Origin', { origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' }, 403],
    ];
    for (const [what, headers, status] of matrix) {
      const response = await register(headers);
      const escaped = await server.inject({
        method: 'POST',
        url: '/%74rpc/auth.me',
        headers: { host: 'phos.example:3000', ...headers },
        payload: {},
      });
      expect({ what, escaped: escaped.statusCode }).toEqual({ what, escaped: status });
      expect({ what, status: response.statusCode }).toEqual({ what, status });
      if (status === 403) expect(response.json()).toMatchObject({ error: { message: 'Cross-site requests are refused' } });
    }

    // A cross-site page cannot open a stream either; a plain cross-site link to a page still works.
    const stream = await server.inject({
      method: 'GET',
      url: '/trpc/queue.onChange',
      headers: { cookie: provider.cookie, 'sec-fetch-site': 'cross-site' },
    });
    expect(stream.statusCode).toBe(403);
    const health = await server.inject({ method: 'GET', url: '/healthz', headers: { 'sec-fetch-site': 'cross-site' } });
    expect(health.statusCode).toBe(200);
  });

  it('refuses a cross-site mutation carrying a valid session cookie, before it does anything', async () => {
    const response = await server.inject({
      method: 'POST',
      url: '/trpc/auth.logout',
      headers: { cookie: provider.cookie, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      payload: {},
    });
    expect(response.statusCode).toBe(403);
    // An HTML form (no Sec-Fetch-Site from an old browser) cannot post JSON, whatever the path's spelling.
    const form = await server.inject({
      method: 'POST',
      url: '/%74rpc/auth.logout',
      headers: { cookie: provider.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'a=b',
    });
    expect(form.statusCode).toBe(415);
    const stillSignedIn = await server.inject({ method: 'POST', url: '/trpc/auth.me', headers: { cookie: provider.cookie }, payload: {} });
    expect(stillSignedIn.json()).toMatchObject({ result: { data: { role: 'Provider' } } });
  });
});
