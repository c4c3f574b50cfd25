import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpServer } from '../../src/http/server.js';
import { silentLogger } from '../../src/trpc/context.js';
import { queueDirectly, startTestPhos } from '../support.js';
import { listening, signedIn } from './http-support.js';

const REQUEST_TIMEOUT_MS = 600;

/** Sends `head` and part of a body, then stalls; resolves with what the server answered once it hung up. */
function stallMidBody(port: number, head: string, partOfBody: string): Promise<{ answer: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve({ answer, ms: Date.now() - started }));
    socket.write(head + partOfBody);
  });
}

describe('request timeouts and body limits (ASVS V12.1.1, V14.1.3)', () => {
  let phos: Awaited<ReturnType<typeof startTestPhos>>;
  let server: Awaited<ReturnType<typeof buildHttpServer>>;
  let port: number;
  let base: string;

  beforeAll(async () => {
    phos = await startTestPhos();
    server = await buildHttpServer({
      phos,
      log: silentLogger,
      limits: { requestTimeoutMs: REQUEST_TIMEOUT_MS, timeoutCheckIntervalMs: 100, bodyLimitBytes: 64 * 1024 },
    });
    ({ port, base } = await listening(server));
  });
  afterAll(async () => {
    await server.close();
    await phos.cleanup();
  });

  it('cuts off a request whose body stops arriving, with 408', async () => {
    const body = JSON.stringify({ email: 'slow@example.com', password: 'x'.repeat(40) });
    const head = `POST /trpc/auth.login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { answer, ms } = await stallMidBody(port, head, body.slice(0, 10));
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
  });

  it('cuts off a request whose headers never finish', async () => {
    const { answer } = await stallMidBody(port, 'POST /trpc/auth.login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', 'a');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('keeps a stream open past the request timeout: the timeout covers receiving the request, not the answer', async () => {
    const provider = await signedIn(server, phos, 'Provider');
    const abort = new AbortController();
    try {
      const response = await fetch(`${base}/trpc/queue.onChange`, {
        headers: { cookie: provider.cookie, accept: 'text/event-stream' },
        signal: abort.signal,
      });
      expect(response.status).toBe(200);
      const reader: ReadableStreamDefaultReader<Uint8Array> = response.body!.getReader();
      const decoder = new TextDecoder();
      let received = decoder.decode((await reader.read()).value);
      expect(received).toContain('connected');

      // Outlive the request timeout several times over, then expect a live event.
      await delay(REQUEST_TIMEOUT_MS * 4);
      await queueDirectly(phos, { lastName: 'Longstream' });
      while (!received.includes('Longstream')) {
        const chunk = await reader.read();
        if (chunk.done) throw new Error(`stream ended early after: ${received}`);
        received += decoder.decode(chunk.value);
      }
      expect(received).toContain('queue.entry.added');
    } finally {
      abort.abort();
    }
  });

  it('refuses a body over the limit with 413, before any procedure runs', async () => {
    const response = await server.inject({
      method: 'POST',
      url: '/trpc/auth.login',
      payload: { email: 'big@example.com', password: 'x'.repeat(70 * 1024) },
    });
    expect(response.statusCode).toBe(413);
    expect(response.headers['cache-control']).toBe('no-store');
  });
});
