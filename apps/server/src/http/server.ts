import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import { fastifyTRPCPlugin, type CreateFastifyContextOptions, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import Fastify from 'fastify';
import type { Logger } from 'pino';
import type { Phos } from '../app.js';
import { SESSION_COOKIE } from '../identity/sessions.js';
import { userForSession } from '../identity/sessions.js';
import { createContextInner, type SessionCookie } from '../trpc/context.js';
import { appRouter, type AppRouter } from '../trpc/router.js';

export interface HttpOptions {
  phos: Phos;
  log: Logger;
  /** The built web app; served at `/` with a fallback to index.html for client routes. */
  webDir?: string | undefined;
  /** Trust X-Forwarded-* from a proxy in front (for Secure cookies behind https). */
  trustProxy?: boolean;
}

export async function buildHttpServer({ phos, log, webDir, trustProxy = false }: HttpOptions) {
  const app = Fastify({
    loggerInstance: log,
    genReqId: () => randomUUID(),
    trustProxy,
    routerOptions: { maxParamLength: 5000 },
  });

  await app.register(fastifyCookie);

  // tRPC also parses form data; Phos takes JSON only. This also stops cross-site form posts.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'POST' || !request.url.startsWith('/trpc/')) return;
    const type = request.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(type)) {
      await reply.code(415).send({ error: { message: 'Only application/json request bodies are accepted' } });
    }
  });

  async function createContext({ req, res }: CreateFastifyContextOptions) {
    const token = req.cookies[SESSION_COOKIE] ?? null;
    const user = token ? await userForSession(phos.services.db, token) : null;
    const sessionCookie: SessionCookie = {
      set(value) {
        void res.setCookie(SESSION_COOKIE, value, {
          httpOnly: true,
          sameSite: 'lax',
          secure: req.protocol === 'https',
          path: '/',
        });
      },
      clear() {
        void res.clearCookie(SESSION_COOKIE, { path: '/' });
      },
    };
    return createContextInner({ services: phos.services, user, sessionToken: token, sessionCookie, requestId: req.id, ip: req.ip });
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
