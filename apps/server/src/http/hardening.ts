import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import fastifyHelmet from '@fastify/helmet';
import proxyAddr from '@fastify/proxy-addr';
import type { AnyTRPCProcedure, AnyTRPCRouter } from '@trpc/server';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { TrustProxy } from '../env.js';

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

/** What a well-formed incoming request id looks like: a uuid, or a proxy's own short token. */
const REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Keeps the id a proxy in front (or a client) sent, so one id follows a request through every
 * hop's log; anything else gets a new one. It is only a correlation id, never trusted for access.
 */
export function requestIdOf(request: IncomingMessage): string {
  const incoming = request.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

export interface HttpLimits {
  /**
   * Headers and body must have arrived within this; otherwise 408 and the connection closes.
   * Node stops this clock once the request is read, so a long SSE response is not cut.
   */
  requestTimeoutMs: number;
  /** How often Node looks for requests past that deadline. */
  timeoutCheckIntervalMs: number;
  /** A socket with no traffic either way for this long is closed; streams ping every 10 s. */
  idleTimeoutMs: number;
  /** The largest request body (the biggest tRPC input, a care plan draft, is under 64 kB). */
  bodyLimitBytes: number;
}

export const defaultHttpLimits: HttpLimits = {
  requestTimeoutMs: 30_000,
  timeoutCheckIntervalMs: 5_000,
  idleTimeoutMs: 120_000,
  bodyLimitBytes: 1024 * 1024,
};

/** Fastify's options for those limits. keepAliveTimeout keeps Fastify's 72 s, above common proxies' 60 s. */
export function serverLimits(limits: HttpLimits) {
  return {
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    bodyLimit: limits.bodyLimitBytes,
    http: {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: Math.min(15_000, limits.requestTimeoutMs),
      connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
    },
  };
}

const privateNetwork = proxyAddr.compile(['loopback', 'linklocal', 'uniquelocal']);

/**
 * Fastify's `trustProxy` for PHOS_TRUST_PROXY. Fastify 5.12.1 stopped honouring a bare hop
 * count, because a client that reaches the port directly can forge the hops. A count here still
 * trusts that many proxies, but only when the nearest one talks from a loopback or private
 * address; an internet client connecting straight to the port gets its own address.
 */
export function fastifyTrustProxy(setting: TrustProxy): FastifyServerOptions['trustProxy'] {
  if (setting === false) return false;
  if ('addresses' in setting) return setting.addresses;
  const { hops } = setting;
  return (address, hop) => hop < hops && (hop > 0 || privateNetwork(address, hop));
}

/** A strict policy: only this origin's scripts, no inline script, no framing, no plugins. */
const contentSecurityPolicy = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    // Mantine writes <style> elements and style attributes at run time; no script can run from them.
    styleSrc: ["'self'", "'unsafe-inline'"],
    // The favicon is a data: URI.
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'"],
    connectSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
};

const HSTS = 'max-age=31536000; includeSubDomains';

/** Where tRPC is mounted (see server.ts). */
const TRPC_ROUTE = '/trpc/:path';

/**
 * Whether the router sent this request to tRPC. Decided by the matched route, not the raw URL:
 * the router decodes percent-escapes, so `/%74rpc/queue.list` reaches tRPC too.
 */
export function isTrpcRequest(request: FastifyRequest): boolean {
  return request.routeOptions.url === TRPC_ROUTE;
}

/** A refusal in the JSON shape the other transport errors use, with the id to quote. */
function refuse(request: FastifyRequest, reply: FastifyReply, statusCode: number, message: string) {
  return reply.code(statusCode).send({ error: { message, data: { httpStatus: statusCode, requestId: request.id } } });
}

/** Response headers: CSP and friends on everything, HSTS over https, no caching of API answers. */
async function registerHeaders(app: App) {
  await app.register(fastifyHelmet, {
    contentSecurityPolicy,
    // Sent only over https (below): over plain http it would lock a browser out of a dev server.
    hsts: false,
    referrerPolicy: { policy: 'no-referrer' },
    xFrameOptions: { action: 'deny' },
  });

  app.addHook('onRequest', function identifyAndSecure(request, reply, done) {
    void reply.header('x-request-id', request.id);
    // `protocol` is https when the socket is TLS, or a trusted proxy said so (PHOS_TRUST_PROXY).
    if (request.protocol === 'https') void reply.header('strict-transport-security', HSTS);
    done();
  });

  // API answers carry health data: no browser or proxy may keep a copy, errors and streams included.
  app.addHook('onSend', function noStore(request, reply, payload, done) {
    if (isTrpcRequest(request)) {
      void reply.header('cache-control', 'no-store');
      // tRPC answers with a fetch Response whose own headers win over the reply's: set it there too.
      if (payload instanceof Response) {
        const keepsNoTransform = payload.headers.get('cache-control')?.includes('no-transform') ?? false;
        payload.headers.set('cache-control', keepsNoTransform ? 'no-store, no-transform' : 'no-store');
      }
    }
    done(null, payload);
  });
}

/** The path of a URL as the router matches it: percent-escapes decoded (`.m%61p` is `.map`). */
function decodedPath(url: string): string {
  const pathname = url.split('?', 1)[0] ?? '';
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

/** Source maps stay off production builds; should one be there anyway, it is not served. */
function refuseSourceMaps(app: App) {
  app.addHook('onRequest', async function noSourceMaps(request, reply) {
    if (decodedPath(request.url).toLowerCase().endsWith('.map')) await refuse(request, reply, 404, 'Not found');
  });
}

/**
 * Refuses a request a browser says came from another site. Browsers send `Sec-Fetch-Site` (and
 * `Origin` on POST); a request with neither is not a browser's cross-site request (curl, another
 * server), and a browser cannot send a cross-site form as JSON, which is all /trpc accepts.
 */
function isCrossSite(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = request.headers.origin;
  return origin !== undefined && origin !== `${request.protocol}://${request.host}`;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function refuseCrossSiteRequests(app: App) {
  app.addHook('onRequest', async function sameOriginOnly(request, reply) {
    // Every /trpc call, reads and stream openings included: the web app is always same-origin.
    if (SAFE_METHODS.has(request.method) && !isTrpcRequest(request)) return;
    if (isCrossSite(request)) await refuse(request, reply, 403, 'Cross-site requests are refused');
  });
}

/** The subscriptions: the one kind of procedure the web calls over GET (EventSource can only GET). */
function subscriptionPathsOf(router: AnyTRPCRouter): Set<string> {
  // At run time `_def.procedures` is flat, keyed by the dotted path.
  const procedures = router._def.procedures as Record<string, AnyTRPCProcedure>;
  return new Set(
    Object.entries(procedures)
      .filter(([, procedure]) => procedure._def.type === 'subscription')
      .map(([path]) => path),
  );
}

/** The procedures a tRPC request names (`/trpc/a.b,c.d?batch=1`), as the router decoded them. */
export function proceduresOf(request: FastifyRequest): string[] {
  const { path = '' } = request.params as { path?: string };
  return path.split(',');
}

/**
 * Queries take their input in the URL when sent as GET, and URLs end up in access logs and
 * browser history: health data must not. The web sends queries as POST; only streams use GET.
 */
function refuseQueriesOverGet(app: App, router: AnyTRPCRouter) {
  const subscriptionPaths = subscriptionPathsOf(router);
  app.addHook('onRequest', async function postForQueries(request, reply) {
    if ((request.method !== 'GET' && request.method !== 'HEAD') || !isTrpcRequest(request)) return;
    if (proceduresOf(request).every((path) => subscriptionPaths.has(path))) return;
    void reply.header('allow', 'POST');
    await refuse(request, reply, 405, 'Send queries as POST with a JSON body');
  });
}

/** Everything here runs before routing reaches tRPC or the static files. */
export async function registerHardening(app: App, router: AnyTRPCRouter) {
  await registerHeaders(app);
  refuseSourceMaps(app);
  refuseCrossSiteRequests(app);
  refuseQueriesOverGet(app, router);
}
