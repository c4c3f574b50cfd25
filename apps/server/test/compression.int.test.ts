import http, { type IncomingHttpHeaders } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpServer } from '../src/http/server.js';
import { silentLogger } from '../src/trpc/context.js';
import { serverSentEvents } from './sse.js';
import { listening, signedIn } from './security/http-support.js';
import { queueDirectly, startTestPhos, type TestPhos } from './support.js';

const ENTRIES = 300;

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The bytes as they came over the wire, still encoded. */
  body: Buffer;
}

/** A POST over plain HTTP that keeps the body as sent: fetch would decode it and hide its size. */
function rawPost(base: string, path: string, headers: Record<string, string>, body = '{}'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${base}${path}`,
      { method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function decoded(response: RawResponse): string {
  const encoding = response.headers['content-encoding'];
  if (encoding === 'br') return brotliDecompressSync(response.body).toString('utf8');
  if (encoding === 'gzip') return gunzipSync(response.body).toString('utf8');
  return response.body.toString('utf8');
}

describe('compressed answers, uncompressed streams', () => {
  let phos: TestPhos;
  let server: Awaited<ReturnType<typeof buildHttpServer>>;
  let base: string;
  let cookie: string;

  beforeAll(async () => {
    phos = await startTestPhos();
    server = await buildHttpServer({ phos, log: silentLogger });
    ({ cookie } = await signedIn(server, phos, 'Provider'));
    ({ base } = await listening(server));
    for (let n = 0; n < ENTRIES; n++) await queueDirectly(phos, { lastName: `Compressed${n}`, minutesAgo: n % 90 });
  }, 120_000);
  afterAll(async () => {
    await server.close();
    await phos.cleanup();
  });

  it.each(['br', 'gzip'])('sends queue.list with %s when the client accepts it, decoding to the same body', async (encoding) => {
    const plain = await rawPost(base, '/trpc/queue.list', { cookie });
    expect(plain.status).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    const entries = (JSON.parse(plain.body.toString('utf8')) as { result: { data: { entries: unknown[] } } }).result.data.entries;
    expect(entries).toHaveLength(ENTRIES);

    const packed = await rawPost(base, '/trpc/queue.list', { cookie, 'accept-encoding': encoding });
    expect(packed.status).toBe(200);
    expect(packed.headers['content-encoding']).toBe(encoding);
    expect(packed.headers.vary).toMatch(/accept-encoding/i);
    expect(packed.headers['cache-control']).toBe('no-store');
    // Sent whole (with its exact length) or chunked, never with a length that does not match.
    expect([undefined, String(packed.body.length)]).toContain(packed.headers['content-length']);
    expect(packed.body.length).toBeLessThan(plain.body.length / 5);
    // Same snapshot, so the same bytes once decoded (no event happened between the two reads).
    expect(decoded(packed)).toBe(plain.body.toString('utf8'));
    console.info(`queue.list, ${ENTRIES} entries: ${plain.body.length} bytes raw, ${packed.body.length} bytes ${encoding}`);
  });

  it('prefers br when the client takes both, and leaves small answers as they are', async () => {
    const both = await rawPost(base, '/trpc/queue.list', { cookie, 'accept-encoding': 'gzip, deflate, br' });
    expect(both.headers['content-encoding']).toBe('br');

    const small = await rawPost(base, '/trpc/auth.me', { cookie, 'accept-encoding': 'br, gzip' });
    expect(small.status).toBe(200);
    expect(small.body.length).toBeLessThan(1024);
    expect(small.headers['content-encoding']).toBeUndefined();
  });

  it('streams queue.onChange uncompressed and live, even to a client that accepts br and gzip', async () => {
    const leaving = new AbortController();
    const response = await fetch(`${base}/trpc/queue.onChange`, {
      headers: { cookie, accept: 'text/event-stream', 'accept-encoding': 'br, gzip' },
      signal: leaving.signal,
    });
    try {
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(response.headers.get('content-encoding')).toBeNull();
      if (!response.body) throw new Error('no stream body');
      const events = serverSentEvents(response.body);
      expect((await events.next()).value).toMatchObject({ event: 'connected' });

      // Delivered while the response is still open: nothing holds it back to compress.
      await queueDirectly(phos, { lastName: 'LiveUncompressed' });
      for (let next = await events.next(); !next.done; next = await events.next()) {
        if (next.value.event !== 'message') continue;
        const change = JSON.parse(next.value.data) as { type: string; entry?: { lastName: string } };
        if (change.entry?.lastName === 'LiveUncompressed') return;
      }
      throw new Error('the stream ended before the live event');
    } finally {
      leaving.abort();
    }
  });
});
