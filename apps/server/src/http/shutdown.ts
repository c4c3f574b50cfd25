import type { Logger } from 'pino';
import type { StreamRegistry } from '../trpc/streams.js';
import type { buildHttpServer } from './server.js';

type HttpServer = Awaited<ReturnType<typeof buildHttpServer>>;

/** How often, while draining, connections whose last response has finished are closed. */
const REAP_INTERVAL_MS = 100;

/**
 * Marks every response sent from now on `Connection: close`, so a keep-alive client (nginx's
 * upstream pool) does not send its next request to an instance that is going away.
 */
export function closeConnectionsWhileDraining(app: HttpServer): { start: () => void } {
  let draining = false;
  app.addHook('onSend', async (_request, reply) => {
    if (draining && !reply.sent) void reply.header('connection', 'close');
  });
  return {
    start() {
      draining = true;
    },
  };
}

/**
 * Takes this api instance out of service within `graceMs`, in this order:
 * 1. every open stream ends with SERVER_RESTARTING (a retry hint: the client reconnects to
 *    another instance and resumes from its last event id), and new ones are refused the same way;
 * 2. the server stops accepting connections, and closes idle keep-alive ones;
 * 3. requests already in flight finish (answered with `Connection: close`); every connection
 *    goes as soon as its response has, since Node keeps a finished one for keep-alive;
 * 4. at `graceMs`, whatever is still open (a client that stopped reading, a request still
 *    running) is cut.
 * Phos itself (database, Redis, workers) is closed after this, by the caller.
 */
export async function drainHttpServer(
  app: HttpServer,
  options: { streams: StreamRegistry; draining: { start: () => void }; graceMs: number; log: Logger },
): Promise<void> {
  const { streams, draining, graceMs, log } = options;
  draining.start();
  const openStreams = streams.openCount();
  streams.drain();
  log.info({ streams: openStreams }, 'ended open streams; draining requests');

  const reaper = setInterval(() => app.server.closeIdleConnections(), REAP_INTERVAL_MS);
  const deadline = setTimeout(() => {
    log.warn({ graceMs }, 'requests still open at the drain deadline; closing their connections');
    app.server.closeAllConnections();
  }, graceMs);
  try {
    await app.close();
  } finally {
    clearInterval(reaper);
    clearTimeout(deadline);
  }
  log.info('http server closed');
}
