import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';

/** True when an Authorization header carries `token` as its bearer token; compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '';
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return given !== '' && timingSafeEqual(digest(given), digest(token));
}

/** The scrape, or a 500 with no detail (the log says what failed). */
export async function scrapeOrFail(metrics: Metrics, log: Logger): Promise<{ status: number; body: string }> {
  try {
    return { status: 200, body: await metrics.scrape() };
  } catch (error) {
    log.warn({ err: error }, 'metrics scrape failed');
    return { status: 500, body: 'scrape failed\n' };
  }
}

/**
 * `/metrics` on a port of its own (PHOS_METRICS_PORT), for a Prometheus on the private network:
 * any role, the worker included, which serves nothing else over HTTP. Keep the port unpublished.
 */
export async function serveMetrics(
  metrics: Metrics,
  options: { port: number; host: string; log: Logger },
): Promise<{
  port: number;
  close: () => Promise<void>;
}> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    void scrapeOrFail(metrics, options.log).then(({ status, body }) => {
      response.writeHead(status, { 'content-type': status === 200 ? metrics.contentType : 'text/plain' }).end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
