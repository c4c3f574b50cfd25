import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import { TRPCError } from '@trpc/server';
import { fastifyTRPCPlugin, type CreateFastifyContextOptions, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { appErrorCodes } from '@phos/shared';
import type { Logger } from 'pino';
import type { Phos } from '../app.js';
import type { TrustProxy } from '../env.js';
import { errorCode, workScope } from '../logging.js';
import { resolveSession, sessionCookieName } from '../identity/sessions.js';
import { createContextInner, type Context, type SessionCookie } from '../trpc/context.js';
import { appRouter, createCaller, type AppRouter } from '../trpc/router.js';
import { databaseFault } from '../trpc/trpc.js';
import {
  defaultHttpLimits,
  fastifyTrustProxy,
  isTrpcRequest,
  registerHardening,
  requestIdOf,
  serverLimits,
  type HttpLimits,
} from './hardening.js';
import { registerCompression } from './compression.js';
import { registerFhirRoutes } from './fhir.js';
import { registerFhirExportRoutes } from './fhirExport.js';
import { serveEventStreams } from './eventStreams.js';
import { mountQueuesBoard } from './queuesBoard.js';
import { refuseBatchedAuthMutations } from './signInBatching.js';
import { bearerMatches, scrapeOrFail } from '../ops/metricsServer.js';
import { timeRequests } from '../ops/requests.js';
import type { Tracing } from '../ops/tracing.js';

export interface HttpOptions {
  phos: Phos;
  log: Logger;
  /** The built web app; served at `/` with a fallback to index.html for client routes. */
  webDir?: string | undefined;
  /** Whose X-Forwarded-* to believe (client address, https for Secure cookies and HSTS). */
  trustProxy?: TrustProxy;
  /** Request timeouts and the body limit; tests shorten them. */
  limits?: Partial<HttpLimits>;
  /** The `retry:` each event stream starts with (default: spread over 0.5–2.5 s). */
  reconnectDelayMs?: () => number;
  /** Serves `/metrics` on this port to a request bearing this token (PHOS_METRICS_TOKEN); none when unset. */
  metricsToken?: string | undefined;
  /** OpenTelemetry, when started (ops/tracing.ts): its Fastify plugin traces every request. */
  tracing?: Tracing | undefined;
}

export async function buildHttpServer({
  phos,
  log,
  webDir,
  trustProxy = false,
  limits,
  reconnectDelayMs,
  metricsToken,
  tracing,
}: HttpOptions) {
  const app = Fastify({
    loggerInstance: log,
    genReqId: requestIdOf,
    trustProxy: fastifyTrustProxy(trustProxy),
    routerOptions: { maxParamLength: 5000 },
    // While draining for a shutdown, a request that still reaches this instance is served (with
    // `Connection: close`), not refused: see http/shutdown.ts.
    return503OnClosing: false,
    ...serverLimits({ ...defaultHttpLimits, ...limits }),
  });

  // First, so every hook and route after it runs in the request's span.
  if (tracing) await app.register(tracing.fastifyPlugin());
  // Everything a request sets off runs in its scope, so a rejection nobody handled names the request.
  app.addHook('onRequest', (request, _reply, done) => workScope.run({ requestId: request.id }, done));
  timeRequests(app, phos.metrics, new Set(Object.keys(appRouter._def.procedures)));
  await registerHardening(app, appRouter);
  await registerCompression(app);
  refuseBatchedAuthMutations(app, appRouter);
  await app.register(fastifyCookie);

  // tRPC also parses form data; Phos takes JSON only. This also stops cross-site form posts.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'POST' || !isTrpcRequest(request)) return;
    const type = request.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(type)) {
      await reply.code(415).send({ error: { message: 'Only application/json request bodies are accepted' } });
    }
  });

  /**
   * Activity renews the session; a stream does not (a dashboard left open must still idle out),
   * nor does reading the session's state to warn before it ends (keepAlive renews it itself).
   */
  function renewsSession(info: CreateFastifyContextOptions['info']): boolean {
    const quiet = ['auth.session', 'auth.keepAlive'];
    return info.type !== 'subscription' && info.calls.some((call) => !quiet.includes(call.path));
  }

  /** The request's session; a database fault becomes the typed, retryable error procedures give. */
  async function resolveSessionOf(token: string, renew: boolean) {
    try {
      return await resolveSession(phos.services.db, token, phos.services.sessionPolicy, { renew });
    } catch (error) {
      const fault = databaseFault(error);
      if (!fault) throw error;
      log.warn({ code: errorCode(error) }, 'database unavailable while resolving a session; the caller was told to retry');
      throw new TRPCError({ code: appErrorCodes[fault.appCode], message: fault.message, cause: fault });
    }
  }

  async function contextOf(req: FastifyRequest, res: FastifyReply, renew: boolean) {
    // A session cookie (no Expires): it goes when the browser closes, and the server ends it sooner.
    const secure = req.protocol === 'https';
    const cookieName = sessionCookieName(secure);
    const cookieOptions = { httpOnly: true, sameSite: 'lax', secure, path: '/' } as const;
    const token = req.cookies[cookieName] ?? null;
    const resolved = token ? await resolveSessionOf(token, renew) : null;
    const sessionCookie: SessionCookie = {
      set(value) {
        void res.setCookie(cookieName, value, cookieOptions);
      },
      clear() {
        void res.clearCookie(cookieName, cookieOptions);
      },
    };
    return createContextInner({
      services: phos.services,
      user: resolved?.user ?? null,
      session: resolved?.session ?? null,
      sessionToken: token,
      sessionCookie,
      requestId: req.id,
      ip: req.ip,
    });
  }

  function onError({ error, path: procedure, ctx }: { error: TRPCError; path: string | undefined; ctx: Context | undefined }) {
    if (error.code === 'INTERNAL_SERVER_ERROR') {
      (ctx?.log ?? log).error({ err: error.cause ?? error, procedure }, 'procedure failed');
    }
  }

  // Streams first: a subscription over GET is answered here, written straight to its socket.
  serveEventStreams(app, {
    router: appRouter,
    createContext: (request, reply) => contextOf(request, reply, false),
    call: (ctx, procedure, input, signal) => {
      const caller: unknown = createCaller(ctx, { signal });
      const call = procedure.split('.').reduce((node, key) => (node as Record<string, unknown>)[key], caller);
      return (call as (input: unknown) => Promise<unknown>)(input);
    },
    onError: (error, procedure, ctx) => onError({ error, path: procedure, ctx }),
    reconnectDelayMs,
  });

  await app.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: {
      router: appRouter,
      createContext: ({ req, res, info }: CreateFastifyContextOptions) => contextOf(req, res, renewsSession(info)),
      // The web app sends queries as POST, so their inputs stay out of URLs and access logs.
      allowMethodOverride: true,
      onError,
    } satisfies FastifyTRPCPluginOptions<AppRouter>['trpcOptions'],
  });

  await mountQueuesBoard(app, {
    queues: [phos.queue],
    userOf: async (request) => {
      const token = request.cookies[sessionCookieName(request.protocol === 'https')];
      return token ? ((await resolveSessionOf(token, false))?.user ?? null) : null;
    },
  });

  await registerFhirRoutes(app, { services: phos.services, log });
  registerFhirExportRoutes(app, { services: phos.services, log, startExport: (exportId) => phos.startFhirExport(exportId) });

  app.get('/healthz', () => ({ status: 'ok' }));
  if (metricsToken !== undefined) {
    app.get('/metrics', async (request, reply) => {
      if (!bearerMatches(request.headers.authorization, metricsToken)) {
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: { message: 'A bearer token is required' } });
      }
      const { status, body } = await scrapeOrFail(phos.metrics, log);
      return reply
        .code(status)
        .type(status === 200 ? phos.metrics.contentType : 'text/plain')
        .send(body);
    });
  }
  app.get('/readyz', async (_request, reply) => {
    const checks = await phos.readiness();
    const ready = checks.database && checks.redis && checks.worker !== false;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', checks });
  });

  if (webDir && existsSync(path.join(webDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: path.resolve(webDir), wildcard: false });
    // Vite names every built asset by its content's hash: a browser keeps it for good and never
    // asks again. The page that names them is revalidated, so a new build is seen at once.
    app.addHook('onSend', async (request, reply, payload) => {
      if (request.method !== 'GET' || reply.statusCode !== 200 || isTrpcRequest(request)) return payload;
      const hashed = request.url.startsWith('/assets/');
      void reply.header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      return payload;
    });
    app.setNotFoundHandler((request, reply) => {
      if (request.method === 'GET' && !request.url.startsWith('/trpc')) return reply.sendFile('index.html');
      return reply.code(404).send({ error: { message: 'Not found' } });
    });
  }
  return app;
}
