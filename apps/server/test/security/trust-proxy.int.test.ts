import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnv, type TrustProxy } from '../../src/env.js';
import { buildHttpServer } from '../../src/http/server.js';
import { silentLogger } from '../../src/trpc/context.js';
import { startTestPhos } from '../support.js';

describe('PHOS_TRUST_PROXY (ASVS V14.1.3)', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['false', false],
    ['0', false],
    ['1', { hops: 1 }],
    ['2', { hops: 2 }],
    ['10.0.0.5', { addresses: ['10.0.0.5'] }],
    ['10.0.0.5, 172.16.0.0/12,::1,fd00::/8', { addresses: ['10.0.0.5', '172.16.0.0/12', '::1', 'fd00::/8'] }],
    ['loopback,uniquelocal', { addresses: ['loopback', 'uniquelocal'] }],
  ] as const)('reads %j as %j', (value, expected) => {
    expect(loadEnv({ PHOS_TRUST_PROXY: value }).PHOS_TRUST_PROXY).toEqual(expected);
  });

  it.each([
    ['true', /any client choose its own address/],
    ['11', /1 to 10/],
    ['10.0.0.300', /not an address or CIDR range: 10\.0\.0\.300/],
    ['10.0.0.0/33', /not an address or CIDR range/],
    ['proxy.internal', /not an address or CIDR range/],
  ])('refuses %j with a clear message', (value, message) => {
    expect(() => loadEnv({ PHOS_TRUST_PROXY: value })).toThrow(message);
  });

  describe('the address a request is logged and throttled under', () => {
    let phos: Awaited<ReturnType<typeof startTestPhos>>;
    beforeAll(async () => {
      phos = await startTestPhos();
    });
    afterAll(() => phos.cleanup());

    /** What `request.ip` and `request.protocol` come to under `trustProxy`, from a peer at `remoteAddress`. */
    async function seenAs(trustProxy: TrustProxy, remoteAddress: string, headers: Record<string, string>) {
      const server = await buildHttpServer({ phos, log: silentLogger, trustProxy });
      server.get('/whoami', (request) => ({ ip: request.ip, protocol: request.protocol }));
      try {
        const response = await server.inject({ method: 'GET', url: '/whoami', remoteAddress, headers });
        return response.json<{ ip: string; protocol: string }>();
      } finally {
        await server.close();
      }
    }
    const forwarded = { 'x-forwarded-for': '1.2.3.4, 5.6.7.8', 'x-forwarded-proto': 'https' };

    it('with no proxy trusted, ignores X-Forwarded-*', async () => {
      expect(await seenAs(false, '10.0.0.2', forwarded)).toEqual({ ip: '10.0.0.2', protocol: 'http' });
    });

    it('with one hop, takes the address the proxy saw (the last one), not the one the client wrote first', async () => {
      expect(await seenAs({ hops: 1 }, '10.0.0.2', forwarded)).toEqual({ ip: '5.6.7.8', protocol: 'https' });
      expect(await seenAs({ hops: 2 }, '10.0.0.2', forwarded)).toEqual({ ip: '1.2.3.4', protocol: 'https' });
    });

    it('with a hop count, believes nothing from a peer on a public address (a client reaching the port directly)', async () => {
      expect(await seenAs({ hops: 1 }, '203.0.113.9', forwarded)).toEqual({ ip: '203.0.113.9', protocol: 'http' });
    });

    it('with an address list, trusts only those proxies', async () => {
      const trusted = { addresses: ['10.0.0.2'] };
      expect(await seenAs(trusted, '10.0.0.2', forwarded)).toEqual({ ip: '5.6.7.8', protocol: 'https' });
      expect(await seenAs(trusted, '10.0.0.3', forwarded)).toEqual({ ip: '10.0.0.3', protocol: 'http' });
      // The chain stops at the first address that is not a trusted proxy.
      const chain = { addresses: ['10.0.0.2', '5.6.7.8'] };
      expect(await seenAs(chain, '10.0.0.2', forwarded)).toEqual({ ip: '1.2.3.4', protocol: 'https' });
    });
  });
});
