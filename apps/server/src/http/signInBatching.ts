import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AnyTRPCProcedure, AnyTRPCRouter } from '@trpc/server';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { isTrpcRequest, proceduresOf } from './hardening.js';

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

/** `auth.login`, `auth.register`, `auth.changePassword` …: every auth mutation in the router. */
function authMutationsOf(router: AnyTRPCRouter): Set<string> {
  // At run time `_def.procedures` is flat, keyed by the dotted path.
  const procedures = router._def.procedures as Record<string, AnyTRPCProcedure>;
  return new Set(
    Object.entries(procedures)
      .filter(([path, procedure]) => path.startsWith('auth.') && procedure._def.type === 'mutation')
      .map(([path]) => path),
  );
}

/**
 * One HTTP request, one sign-in attempt: a batch that names an auth mutation beside any other
 * call is refused before tRPC runs any of it, so 50 guesses cannot ride in one request. The web
 * client's lone `auth.login?batch=1` (a batch of one) still passes; each attempt is counted by
 * the sign-in throttle in any case.
 */
export function refuseBatchedAuthMutations(app: App, router: AnyTRPCRouter): void {
  const authMutations = authMutationsOf(router);
  app.addHook('onRequest', async function oneAuthMutationPerRequest(request, reply) {
    // By the matched route, not the raw URL: `/%74rpc/auth.login,auth.login` reaches tRPC too.
    if (!isTrpcRequest(request)) return;
    const procedures = proceduresOf(request);
    if (procedures.length < 2 || !procedures.some((procedure) => authMutations.has(procedure))) return;
    await reply.code(400).send({
      error: {
        message: 'Sign-in, registration and password calls cannot be batched: send each on its own',
        data: { httpStatus: 400, requestId: request.id },
      },
    });
  });
}
