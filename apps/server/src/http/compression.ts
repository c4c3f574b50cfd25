import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { constants } from 'node:zlib';
import fastifyCompress from '@fastify/compress';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

/** Below this a response goes as it is: compressing a few hundred bytes saves less than it costs. */
export const COMPRESSION_THRESHOLD_BYTES = 1024;

/**
 * Brotli's fastest quality. The queue list of 5,000 entries (1.7 MB of JSON) is compressed on the
 * event loop for every dashboard that loads it: quality 1 sends 291 KB in about a third of the
 * time quality 4 (@fastify/compress's default, 275 KB) takes; scripts grow by about 7 %, once per
 * build, since the browser keeps them.
 */
export const BROTLI_QUALITY = 1;

const EVENT_STREAM = /^text\/event-stream\b/i;
const COMPRESSIBLE = /^(?:text\/|application\/(?:[\w.-]+\+)?json\b|application\/(?:x-)?javascript\b|image\/svg\+xml\b)/i;

/**
 * JSON, text, scripts and SVG; never a server-sent event stream, which must reach the client
 * event by event: a compressor holds bytes back until it has enough to pack.
 */
function compressible(contentType: string): boolean {
  return !EVENT_STREAM.test(contentType) && COMPRESSIBLE.test(contentType);
}

/**
 * A whole JSON answer of tRPC's (a query or mutation, not a stream): its body is complete when it
 * is sent, so reading it into a buffer costs nothing and lets the compressor see its size, skip
 * small ones and set an exact Content-Length. Left as a Response, its body is a stream, which the
 * compressor packs whatever its size.
 */
function isWholeJson(response: Response): boolean {
  const type = response.headers.get('content-type') ?? '';
  return /^application\/json\b/i.test(type) && response.headers.get('transfer-encoding') === null && response.body !== null;
}

/**
 * br or gzip for answers above the threshold, as the client accepts them (the queue list of a busy
 * clinic is hundreds of kB of repetitive JSON). Registered after the hardening hooks, whose
 * headers it carries over, and before the routes it applies to. Request bodies are not inflated:
 * the body limit stays a limit on what the server reads.
 */
export async function registerCompression(app: App) {
  app.addHook('onSend', async function wholeJsonBody(_request, reply, payload) {
    if (!(payload instanceof Response) || !isWholeJson(payload)) return payload;
    void reply.code(payload.status);
    for (const [name, value] of payload.headers) void reply.header(name, value);
    return Buffer.from(await payload.arrayBuffer());
  });

  await app.register(fastifyCompress, {
    encodings: ['br', 'gzip'],
    threshold: COMPRESSION_THRESHOLD_BYTES,
    brotliOptions: {
      params: { [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT, [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY },
    },
    customTypes: compressible,
    globalDecompression: false,
  });
}
