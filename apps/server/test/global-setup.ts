import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedRedis, type EmbeddedRedis } from '../src/redis/embedded.js';
import type { RedisTarget } from '../src/redis/connection.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisTarget: RedisTarget;
  }
}

/**
 * Tests use REDIS_URL when it is set; otherwise a private redis-server, exactly as `npm start`
 * runs one, so the embedded default is what a bare `npm test` proves.
 */
export default async function setup(project: TestProject) {
  let embedded: EmbeddedRedis | undefined;
  let dir: string | undefined;
  const url = process.env.REDIS_URL;
  if (url) {
    project.provide('redisTarget', { url });
  } else {
    dir = mkdtempSync(path.join(tmpdir(), 'phos-redis-'));
    embedded = await startEmbeddedRedis(dir);
    project.provide('redisTarget', { path: embedded.socketPath });
  }
  return async () => {
    await embedded?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}
