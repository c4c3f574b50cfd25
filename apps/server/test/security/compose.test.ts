import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const compose = readFileSync(fileURLToPath(new URL('../../../../docker-compose.yml', import.meta.url)), 'utf8');

describe('docker-compose.yml has no default credentials (ASVS V2.10.2, V14.1.3)', () => {
  it('requires a Postgres password, with no default to fall back on', () => {
    expect(compose).not.toMatch(/POSTGRES_PASSWORD:-/);
    expect(compose).toContain('POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}');
    expect(compose).toContain('postgres://phos:${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}@postgres:5432/phos');
  });

  it('runs Redis with a password that the api, the worker and the health check use', () => {
    expect(compose).toMatch(/- --requirepass\n\s+- \$\{REDIS_PASSWORD:\?set REDIS_PASSWORD\}/);
    expect(compose).toContain('REDIS_URL: redis://:${REDIS_PASSWORD:?set REDIS_PASSWORD}@redis:6379');
    expect(compose).toContain('REDISCLI_AUTH: ${REDIS_PASSWORD:?set REDIS_PASSWORD}');
  });

  it('trusts a counted proxy chain, never every client', () => {
    expect(compose).not.toMatch(/PHOS_TRUST_PROXY:\s*"?true/);
    expect(compose).toContain('PHOS_TRUST_PROXY: ${PHOS_TRUST_PROXY:-1}');
  });
});
