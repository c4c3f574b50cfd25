import { fileURLToPath } from 'node:url';
import { configFromEnv, startPhos } from './app.js';
import { ensurePrivateDir, keepNewFilesPrivate } from './data-dir.js';
import { loadEnv } from './env.js';
import { buildHttpServer } from './http/server.js';
import { closeConnectionsWhileDraining, drainHttpServer } from './http/shutdown.js';
import { createLogger, logUnhandled, wantsPrettyLogs } from './logging.js';
import { serveMetrics } from './ops/metricsServer.js';
import { startTracing, tracingConfigFromEnv } from './ops/tracing.js';

// Before anything is written: the embedded database and Redis keep health data in PHOS_DATA_DIR.
keepNewFilesPrivate();
const env = loadEnv();
if (!env.DATABASE_URL || !env.REDIS_URL) ensurePrivateDir(env.PHOS_DATA_DIR);
const pretty = wantsPrettyLogs(env.LOG_FORMAT, { terminal: process.stdout.isTTY, ci: env.CI !== undefined && env.CI !== '' });
const log = createLogger({ level: env.LOG_LEVEL, base: { service: 'phos', runs: env.PHOS_ROLE } }, pretty);
// `shutdown` may fail if this comes before Phos has started; the process then just exits.
logUnhandled(log, () => void shutdown('uncaughtException', 1).catch(() => process.exit(1)));
const defaultWebDir = fileURLToPath(new URL('../../web/dist', import.meta.url));

// Before Phos connects, so its first queries and commands are traced; unset, nothing is loaded.
const tracingConfig = tracingConfigFromEnv(env);
const tracing = tracingConfig ? await startTracing(tracingConfig) : undefined;
if (tracingConfig) log.info({ serviceName: tracingConfig.serviceName }, 'tracing is on');
const phos = await startPhos(configFromEnv(env, log));
const http =
  env.PHOS_ROLE === 'worker'
    ? undefined
    : await buildHttpServer({
        phos,
        log,
        webDir: env.PHOS_WEB_DIR ?? defaultWebDir,
        trustProxy: env.PHOS_TRUST_PROXY,
        metricsToken: env.PHOS_METRICS_TOKEN,
        tracing,
      });
const metricsServer =
  env.PHOS_METRICS_PORT === undefined
    ? undefined
    : await serveMetrics(phos.metrics, { port: env.PHOS_METRICS_PORT, host: env.PHOS_METRICS_HOST, log });
if (metricsServer) log.info(`metrics at http://${env.PHOS_METRICS_HOST}:${metricsServer.port}/metrics`);

const draining = http ? closeConnectionsWhileDraining(http) : undefined;

if (http) {
  try {
    await http.listen({ port: env.PORT, host: env.HOST });
  } catch (error) {
    log.fatal({ err: error }, 'could not listen');
    await phos.close();
    process.exit(1);
  }
  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  const shownHost = env.HOST === '0.0.0.0' || env.HOST === '::' ? 'localhost' : env.HOST;
  log.info(`Phos is running at http://${shownHost}:${port}`);
} else {
  log.info('Phos worker is running');
}

/**
 * Gone within PHOS_SHUTDOWN_SECONDS, whatever clients do: open streams end at once with a retry
 * hint (their clients resume on another instance), requests in flight get 40% of the budget,
 * then workers finish their jobs or let go of them (back to the queue) 1.5 s before the end,
 * and the rest (relay, hub, Redis, database) closes. Should any step hang, the process exits at
 * the budget anyway, with code 1.
 */
let stopping = false;
async function shutdown(signal: string, exitCode = 0) {
  if (stopping) return;
  stopping = true;
  const budgetMs = env.PHOS_SHUTDOWN_SECONDS * 1000;
  const startedAt = Date.now();
  log.info({ signal, budgetMs }, 'shutting down');
  setTimeout(() => {
    log.error({ budgetMs }, 'shutdown did not finish in time; exiting');
    process.exit(1);
  }, budgetMs - 250).unref();
  if (http && draining) {
    try {
      await drainHttpServer(http, { streams: phos.services.streams, draining, graceMs: budgetMs * 0.4, log });
    } catch (error) {
      log.error({ err: error }, 'draining the http server failed');
    }
  }
  await metricsServer?.close();
  await phos.close({ jobsBy: startedAt + budgetMs - 1500 });
  await tracing?.shutdown().catch((error: unknown) => log.warn({ err: error }, 'could not send the last spans'));
  log.info({ ms: Date.now() - startedAt }, 'shut down');
  process.exit(exitCode);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
