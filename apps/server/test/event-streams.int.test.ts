import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpServer } from '../src/http/server.js';
import { callerFor, createStaff, eventually, queueDirectly, startTestPhos, type TestPhos } from './support.js';
import { listening, signedIn } from './security/http-support.js';
import { serverSentEvents, type ServerSentEvent } from './sse.js';

type HttpServer = Awaited<ReturnType<typeof buildHttpServer>>;

describe('event streams over HTTP', () => {
  let phos: TestPhos;
  let server: HttpServer;
  let base: string;
  let cookie: string;

  beforeAll(async () => {
    phos = await startTestPhos({ runs: 'api' });
    server = await buildHttpServer({ phos, log: pino({ level: 'silent' }) });
    ({ base } = await listening(server));
    ({ cookie } = await signedIn(server, phos, 'Provider'));
  });
  afterAll(async () => {
    await server.close();
    await phos.cleanup();
  });

  async function open(path: string, headers: Record<string, string> = {}) {
    const controller = new AbortController();
    const response = await fetch(`${base}/trpc/${path}`, {
      headers: { accept: 'text/event-stream', ...headers },
      signal: controller.signal,
    });
    const events = serverSentEvents(response.body!);
    return { response, events, close: () => controller.abort() };
  }

  /** The next event that is not a ping. */
  async function nextEvent(events: AsyncGenerator<ServerSentEvent>): Promise<ServerSentEvent> {
    for (;;) {
      const step = await events.next();
      if (step.done === true) throw new Error('the stream ended');
      if (step.value.event !== 'ping') return step.value;
    }
  }

  it("speaks tRPC's SSE: the connected event with the client's options, then tracked changes with their ids", async () => {
    const stream = await open('queue.onChange', { cookie });
    try {
      expect(stream.response.status).toBe(200);
      expect(stream.response.headers.get('content-type')).toBe('text/event-stream');
      // Health data: no copy kept by a browser or proxy; and the route's own headers are kept.
      expect(stream.response.headers.get('cache-control')).toBe('no-store, no-transform');
      expect(stream.response.headers.get('x-request-id')).toBeTruthy();
      expect(stream.response.headers.get('content-security-policy')).toBeTruthy();
      const connected = await nextEvent(stream.events);
      expect(connected.event).toBe('connected');
      expect(JSON.parse(connected.data)).toEqual({ reconnectAfterInactivityMs: 25_000 });

      const entry = await queueDirectly(phos, { lastName: 'Streamed' });
      const change = await nextEvent(stream.events);
      expect(change.event).toBe('message');
      expect(change.id).toMatch(/^\d+$/);
      expect(JSON.parse(change.data)).toMatchObject({ type: 'queue.entry.added', entry: { id: entry.id } });
    } finally {
      stream.close();
    }
  });

  it('ends a stream the caller may not open with a serialized error, after the connected event', async () => {
    const anonymous = await open('queue.onChange');
    expect((await nextEvent(anonymous.events)).event).toBe('connected');
    const refused = await nextEvent(anonymous.events);
    expect(refused.event).toBe('serialized-error');
    expect(JSON.parse(refused.data)).toMatchObject({ data: { code: 'UNAUTHORIZED', appCode: 'NOT_SIGNED_IN' } });
    expect((await anonymous.events.next()).done).toBe(true);

    const badInput = await open(`queue.onChange?input=${encodeURIComponent('{not json')}`, { cookie });
    expect((await nextEvent(badInput.events)).event).toBe('connected');
    const parseError = await nextEvent(badInput.events);
    expect(parseError.event).toBe('serialized-error');
    expect(JSON.parse(parseError.data)).toMatchObject({ data: { code: 'PARSE_ERROR' } });
  });

  it('serialises a queue change once, however many streams it goes to', async () => {
    const staff = callerFor(phos, await createStaff(phos));
    const entry = await queueDirectly(phos, { lastName: 'Fanned' });
    const streams = await Promise.all(Array.from({ length: 8 }, () => open('queue.onChange', { cookie })));
    const stringify = JSON.stringify;
    const written: string[] = [];
    try {
      for (const stream of streams) expect((await nextEvent(stream.events)).event).toBe('connected');
      JSON.stringify = function (this: unknown, ...args: Parameters<typeof JSON.stringify>) {
        const text = stringify.apply(this, args);
        if (typeof text === 'string' && text.startsWith('{"type":"queue.entry.updated"')) written.push(text);
        return text;
      } as typeof JSON.stringify;
      await staff.queue.transition({ entryId: entry.id, expectedVersion: entry.version, to: 'in_triage' });
      const received = await Promise.all(
        streams.map(async (stream) => {
          for (;;) {
            const event = await nextEvent(stream.events);
            if (event.data.includes(entry.id) && event.data.includes('in_triage')) return event.data;
          }
        }),
      );
      expect(new Set(received).size).toBe(1);
      // Per stream, tRPC's own writer would have serialised it 8 times.
      expect(written.filter((text) => text === received[0])).toHaveLength(1);
    } finally {
      JSON.stringify = stringify;
      for (const stream of streams) stream.close();
    }
  });

  it('frees the slot of a stream whose client leaves', async () => {
    // The earlier tests' streams, closed by their clients, are gone first.
    await eventually(() => Promise.resolve(phos.services.streams.openCount() === 0));
    const stream = await open('queue.onChange', { cookie });
    try {
      expect((await nextEvent(stream.events)).event).toBe('connected');
      expect(phos.services.streams.openCount()).toBe(1);
    } finally {
      stream.close();
    }
    await eventually(() => Promise.resolve(phos.services.streams.openCount() === 0));
  });
});
