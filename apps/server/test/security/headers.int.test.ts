import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpServer } from '../../src/http/server.js';
import { silentLogger } from '../../src/trpc/context.js';
import { startTestPhos } from '../support.js';

const webApp = fileURLToPath(new URL('../../../web', import.meta.url));

/** The directives of a Content-Security-Policy header, by name. */
function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .filter((words) => words[0])
      .map(([name = '', ...values]) => [name, values]),
  );
}

/** `<script>` tags with a body or without a src: what `script-src 'self'` would block. */
function inlineScripts(html: string): string[] {
  return [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)]
    .filter(([, attributes = '', body = '']) => !/\bsrc=/i.test(attributes) || body.trim() !== '')
    .map(([tag]) => tag);
}

describe('security headers (ASVS V14.4, V14.3.2, V8.2.1)', () => {
  let phos: Awaited<ReturnType<typeof startTestPhos>>;
  let webDir: string;

  beforeAll(async () => {
    phos = await startTestPhos();
    // A built web app in miniature, with the source map a careless build would leave beside it.
    webDir = mkdtempSync(path.join(tmpdir(), 'phos-web-'));
    mkdirSync(path.join(webDir, 'assets'));
    writeFileSync(path.join(webDir, 'index.html'), '<!doctype html><script type="module" src="/assets/app.js"></script>');
    writeFileSync(path.join(webDir, 'assets', 'app.js'), 'console.log(1);\n//# sourceMappingURL=app.js.map');
    writeFileSync(path.join(webDir, 'assets', 'app.js.map'), '{"version":3,"sources":["secret.ts"]}');
  });
  afterAll(async () => {
    await phos.cleanup();
    rmSync(webDir, { recursive: true, force: true });
  });

  async function server(options: Partial<Parameters<typeof buildHttpServer>[0]> = {}) {
    return buildHttpServer({ phos, log: silentLogger, webDir, ...options });
  }

  it('sends a strict CSP, nosniff, no referrer and no framing on pages and API answers', async () => {
    const app = await server();
    try {
      for (const url of ['/', '/queue', '/healthz']) {
        const response = await app.inject({ method: 'GET', url });
        const csp = directives(String(response.headers['content-security-policy']));
        expect(csp.get('default-src')).toEqual(["'self'"]);
        expect(csp.get('script-src')).toEqual(["'self'"]);
        // Mantine injects <style> elements and style attributes; scripts stay strict.
        expect(csp.get('style-src')).toEqual(["'self'", "'unsafe-inline'"]);
        expect(csp.get('connect-src')).toEqual(["'self'"]);
        expect(csp.get('object-src')).toEqual(["'none'"]);
        expect(csp.get('base-uri')).toEqual(["'none'"]);
        expect(csp.get('form-action')).toEqual(["'self'"]);
        expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
        expect(response.headers['x-content-type-options']).toBe('nosniff');
        expect(response.headers['referrer-policy']).toBe('no-referrer');
        expect(response.headers['x-frame-options']).toBe('DENY');
        expect(response.headers['x-powered-by']).toBeUndefined();
      }
      const api = await app.inject({ method: 'POST', url: '/trpc/auth.me', payload: {} });
      expect(api.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(api.headers['x-content-type-options']).toBe('nosniff');
    } finally {
      await app.close();
    }
  });

  it('sends HSTS only over https, as a trusted proxy reports it', async () => {
    const direct = await server();
    const behindProxy = await server({ trustProxy: { hops: 1 } });
    try {
      const plain = await direct.inject({ method: 'GET', url: '/' });
      expect(plain.headers['strict-transport-security']).toBeUndefined();
      // Without a trusted proxy, a client cannot claim https for itself.
      const claimed = await direct.inject({ method: 'GET', url: '/', headers: { 'x-forwarded-proto': 'https' } });
      expect(claimed.headers['strict-transport-security']).toBeUndefined();

      for (const url of ['/', '/healthz']) {
        const tls = await behindProxy.inject({ method: 'GET', url, headers: { 'x-forwarded-proto': 'https' } });
        expect(tls.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      }
      const tlsApi = await behindProxy.inject({
        method: 'POST',
        url: '/trpc/auth.me',
        payload: {},
        headers: { 'x-forwarded-proto': 'https' },
      });
      expect(tlsApi.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    } finally {
      await direct.close();
      await behindProxy.close();
    }
  });

  it('marks every /trpc answer no-store: results, errors and refusals', async () => {
    const app = await server();
    try {
      const answers = [
        await app.inject({ method: 'POST', url: '/trpc/auth.me', payload: {} }),
        await app.inject({ method: 'POST', url: '/trpc/queue.list', payload: {} }),
        await app.inject({ method: 'POST', url: '/trpc/auth.register', payload: { email: 'x' } }),
        await app.inject({ method: 'POST', url: '/trpc/auth.register', payload: 'a=b', headers: { 'content-type': 'text/plain' } }),
        await app.inject({ method: 'POST', url: '/trpc/no.such', payload: {} }),
        await app.inject({ method: 'GET', url: '/trpc/queue.list' }),
        await app.inject({ method: 'POST', url: '/%74rpc/queue.list', payload: {} }),
      ];
      expect(answers.map((answer) => answer.statusCode)).toEqual([200, 401, 400, 415, 404, 405, 401]);
      for (const answer of answers) expect(answer.headers['cache-control']).toBe('no-store');
    } finally {
      await app.close();
    }
  });

  it('lets a browser keep the hashed assets for good, and revalidate the page that names them', async () => {
    const app = await server();
    try {
      const script = await app.inject({ method: 'GET', url: '/assets/app.js' });
      expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      for (const url of ['/', '/index.html', '/dashboard']) {
        const page = await app.inject({ method: 'GET', url });
        expect({ url, status: page.statusCode, cache: page.headers['cache-control'] }).toEqual({ url, status: 200, cache: 'no-cache' });
      }
    } finally {
      await app.close();
    }
  });

  it('never serves a source map, even one left in the web directory', async () => {
    const app = await server();
    try {
      const script = await app.inject({ method: 'GET', url: '/assets/app.js' });
      expect(script.statusCode).toBe(200);
      for (const url of [
        '/assets/app.js.map',
        '/assets/APP.JS.MAP',
        '/assets/app.js.m%61p',
        '/assets/app.js.map?x=1',
        '/assets/missing.js.map',
      ]) {
        const map = await app.inject({ method: 'GET', url });
        expect({ url, status: map.statusCode }).toEqual({ url, status: 404 });
        expect(map.body).not.toContain('secret.ts');
        expect(map.body).not.toContain('<script');
      }
    } finally {
      await app.close();
    }
  });

  it('builds the web app without source maps and with no inline script for the CSP to block', () => {
    const viteConfig = readFileSync(path.join(webApp, 'vite.config.ts'), 'utf8');
    expect(viteConfig).toMatch(/sourcemap:\s*false/);
    expect(inlineScripts(readFileSync(path.join(webApp, 'index.html'), 'utf8'))).toEqual([]);
    // The built page too, when a build is there (`npm run build -w @phos/web`); Vite puts its
    // module-preload polyfill in the entry chunk, not inline.
    const built = path.join(webApp, 'dist', 'index.html');
    if (existsSync(built)) expect(inlineScripts(readFileSync(built, 'utf8'))).toEqual([]);
  });
});
