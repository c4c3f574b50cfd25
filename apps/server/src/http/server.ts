import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import { TRPCError } from '@trpc/server';
import { fastifyTRPCPlugin, type CreateFastifyContextOptions, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import Fastify from 'fastify';
import { appErrorCodes } from '@phos/shared';
import type { Logger } from 'pino';
import type { Phos } from '../app.js';
import type { TrustProxy } from '../env.js';
import { errorCode } from '../logging.js';
import { resolveSession, sessionCookieName } from '../identity/sessions.js';
import { createContextInner, type SessionCookie } from '../trpc/context.js';
import { appRouter, type AppRouter } from '../trpc/router.js';
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
import { refuseBatchedAuthMutations } from './signInBatching.js';

export interface HttpOptions {
  phos: Phos;
  log: Logger;
  /** The built web app; served at `/` with a fallback to index.html for client routes. */
  webDir?: string | undefined;
  /** Whose X-Forwarded-* to believe (client address, https for Secure cookies and HSTS). */
  trustProxy?: TrustProxy;
  /** Request timeouts and the body limit; tests shorten them. */
  limits?: Partial<HttpLimits>;
}

export async function buildHttpServer({ phos, log, webDir, trustProxy = false, limits }: HttpOptions) {
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
  async function resolveSessionOf(token: string, info: CreateFastifyContextOptions['info']) {
    try {
      return await resolveSession(phos.services.db, token, phos.services.sessionPolicy, { renew: renewsSession(info) });
    } catch (error) {
      const fault = databaseFault(error);
      if (!fault) throw error;
      log.warn({ code: errorCode(error) }, 'database unavailable while resolving a session; the caller was told to retry');
      throw new TRPCError({ code: appErrorCodes[fault.appCode], message: fault.message, cause: fault });
    }
  }

  async function createContext({ req, res, info }: CreateFastifyContextOptions) {
    // A session cookie (no Expires): it goes when the browser closes, and the server ends it sooner.
    const secure = req.protocol === 'https';
    const cookieName = sessionCookieName(secure);
    const cookieOptions = { httpOnly: true, sameSite: 'lax', secure, path: '/' } as const;
    const token = req.cookies[cookieName] ?? null;
    const resolved = token ? await resolveSessionOf(token, info) : null;
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

  await app.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: {
      router: appRouter,
      createContext,
      // The web app sends queries as POST, so their inputs stay out of URLs and access logs.
      allowMethodOverride: true,
      onError({ error, path: procedure, ctx }) {
        if (error.code === 'INTERNAL_SERVER_ERROR') {
          (ctx?.log ?? log).error({ err: error.cause ?? error, procedure }, 'procedure failed');
        }
      },
    } satisfies FastifyTRPCPluginOptions<AppRouter>['trpcOptions'],
  });

  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const checks = await phos.readiness();
    const ready = checks.database && checks.redis && checks.worker !== false;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', checks });
  });

  if (webDir && existsSync(path.join(webDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: path.resolve(webDir), wildcard: false });
    app.setNotFoundHandler((request, reply) => {
      if (request.method === 'GET' && !request.url.startsWith('/trpc')) return reply.sendFile('index.html');
      return reply.code(404).send({ error: { message: 'Not found' } });
    });
  }
  return app;
}
