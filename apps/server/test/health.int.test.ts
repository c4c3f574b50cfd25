import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildHttpServer } from '../src/http/server.js';
import { startEmbeddedRedis } from '../src/redis/embedded.js';
import { silentLogger } from '../src/trpc/context.js';
import { eventually, startTestPhos } from './support.js';

/** A redis-server of this test's own, and its process id, to pause it without touching anyone else's. */
async function privateRedis() {
  const dir = mkdtempSync(path.join(tmpdir(), 'phos-health-'));
  const redis = await startEmbeddedRedis(dir);
  onTestFinished(async () => {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const probe = new Redis({ path: redis.socketPath });
  const pid = Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
  probe.disconnect();
  if (!Number.isInteger(pid)) throw new Error('redis-server did not say its process id');
  return { socketPath: redis.socketPath, pid };
}

describe('/readyz', () => {
  it('answers 503 within about a second while Redis is paused, and 200 once it is back', { timeout: 60_000 }, async () => {
    const redis = await privateRedis();
    const phos = await startTestPhos({ redis: { path: redis.socketPath } });
    onTestFinished(() => phos.cleanup());
    const app = await buildHttpServer({ phos, log: silentLogger });
    onTestFinished(() => app.close());
    await eventually(async () => (await app.inject('/readyz')).statusCode === 200);

    process.kill(redis.pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const response = await app.inject('/readyz');
      const elapsed = Date.now() - started;
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ status: 'not-ready', checks: { database: true, redis: false } });
      // One second per check, run side by side; the rest is slack for a loaded machine.
      expect(elapsed).toBeLessThan(3_000);
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
    await eventually(async () => (await app.inject('/readyz')).statusCode === 200, 20_000);
  });
});
