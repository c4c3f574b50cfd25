import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

/**
 * A request's name for metrics: its tRPC procedure when it names one the router has, a batch, or
 * its route (`/healthz`); never the raw URL, whose values would make every request a new series.
 */
export function requestNameOf(request: FastifyRequest, procedures: ReadonlySet<string>): string {
  const route = request.routeOptions.url;
  if (route === '/trpc/:path') {
    const { path } = request.params as { path?: string };
    if (path?.includes(',')) return 'batch';
    return path !== undefined && procedures.has(path) ? path : 'unknown';
  }
  return route ?? 'unmatched';
}

/** Times every request but live streams (which last as long as someone watches; they are counted open instead). */
export function timeRequests(app: App, metrics: Metrics, procedures: ReadonlySet<string>): void {
  app.addHook('onResponse', async (request, reply) => {
    if (String(reply.getHeader('content-type') ?? '').startsWith('text/event-stream')) return;
    metrics.observeRequest(requestNameOf(request, procedures), reply.statusCode, reply.elapsedTime / 1000);
  });
}
