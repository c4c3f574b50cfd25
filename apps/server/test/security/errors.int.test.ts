import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpServer } from '../../src/http/server.js';
import { errorSerializer } from '../../src/logging.js';
import { patientInput, startTestPhos } from '../support.js';

/** A logger whose lines the test can read, with the serializers the server uses. */
function capturingLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const log = pino({ level: 'error', serializers: { err: errorSerializer, error: errorSerializer } }, sink);
  return { log, text: () => lines.join('') };
}

describe('errors tell the caller only a request id (ASVS V7.4.1)', () => {
  const captured = capturingLogger();
  let phos: Awaited<ReturnType<typeof startTestPhos>>;
  let server: Awaited<ReturnType<typeof buildHttpServer>>;

  beforeAll(async () => {
    phos = await startTestPhos({ log: captured.log });
    server = await buildHttpServer({ phos, log: captured.log });
  });
  afterAll(async () => {
    await server.close();
    await phos.cleanup();
  });

  it('answers an unexpected database failure with "Something went wrong" and the request id, never the SQL or its values', async () => {
    const input = patientInput({ lastName: 'Nightingale' });
    // The insert that once leaked: it carries the email, the names and the argon2 hash.
    await phos.services.db.execute(sql`alter table users rename to users_gone`);
    try {
      const response = await server.inject({ method: 'POST', url: '/trpc/auth.register', payload: input });
      expect(response.statusCode).toBe(500);
      const requestId = response.headers['x-request-id'];
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
      const body = response.json<{ error: { message: string; data: Record<string, unknown> } }>();
      expect(body.error.message).toBe(`Something went wrong (request ${String(requestId)})`);
      expect(body.error.data).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', appCode: 'INTERNAL', requestId });
      expect(body.error.data.stack).toBeUndefined();
      for (const leak of ['insert', 'users', 'Failed query', 'params', '$argon2', input.email, 'Nightingale', input.password, '    at ']) {
        expect(response.body).not.toContain(leak);
      }

      // The server's log has the failure and the same id, with the query's values left out.
      const log = captured.text();
      expect(log).toContain('procedure failed');
      expect(log).toContain(String(requestId));
      expect(log).toContain('Failed query: insert into');
      for (const secret of ['$argon2', input.email, 'Nightingale', input.password]) expect(log).not.toContain(secret);
    } finally {
      await phos.services.db.execute(sql`alter table users_gone rename to users`);
    }
  });

  it('puts the request id in every error, expected ones too', async () => {
    const response = await server.inject({ method: 'POST', url: '/trpc/queue.list', payload: {} });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: { data: { requestId: response.headers['x-request-id'] } } });
  });

  it('returns the request id on every response, keeping a well-formed one a proxy sent', async () => {
    const health = await server.inject({ method: 'GET', url: '/healthz' });
    expect(health.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);

    const fromProxy = await server.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'edge-7f3A_91' } });
    expect(fromProxy.headers['x-request-id']).toBe('edge-7f3A_91');

    for (const malformed of ['a'.repeat(65), 'id with spaces', '<script>', 'id;drop']) {
      const response = await server.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': malformed } });
      expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});
