import { fileURLToPath } from 'node:url';
import { configFromEnv, startPhos } from './app.js';
import { ensurePrivateDir, keepNewFilesPrivate } from './data-dir.js';
import { loadEnv } from './env.js';
import { buildHttpServer } from './http/server.js';
import { createLogger } from './logging.js';

// Before anything is written: the embedded database and Redis keep health data in PHOS_DATA_DIR.
keepNewFilesPrivate();
const env = loadEnv();
if (!env.DATABASE_URL || !env.REDIS_URL) ensurePrivateDir(env.PHOS_DATA_DIR);
const log = createLogger({ level: env.LOG_LEVEL, base: { service: 'phos', runs: env.PHOS_ROLE } });
const defaultWebDir = fileURLToPath(new URL('../../web/dist', import.meta.url));

const phos = await startPhos(configFromEnv(env, log));
const http = env.PHOS_ROLE === 'worker'
  ? undefined
  : await buildHttpServer({ phos, log, webDir: env.PHOS_WEB_DIR ?? defaultWebDir, trustProxy: env.PHOS_TRUST_PROXY });

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

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down');
  await http?.close();
  await phos.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
