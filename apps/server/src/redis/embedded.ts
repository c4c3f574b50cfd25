import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { ensurePrivateDir } from '../data-dir.js';

export interface EmbeddedRedis {
  socketPath: string;
  stop(): Promise<void>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function respondsToPing(socketPath: string): Promise<boolean> {
  const probe = new Redis({ path: socketPath, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** The pid of another live process that owns the embedded Redis in `dir`, if one does. */
export function liveOwnerOf(dir: string): number | null {
  const ownerFile = path.join(dir, 'owner.pid');
  if (!existsSync(ownerFile)) return null;
  const pid = Number(readFileSync(ownerFile, 'utf8'));
  return Number.isInteger(pid) && pid !== process.pid && isAlive(pid) ? pid : null;
}

/**
 * Starts a private `redis-server` from PATH with its data under `dir`: AOF on, `noeviction`
 * (BullMQ must never lose keys), listening only on a unix socket, logging to `redis.log` there.
 */
export async function startEmbeddedRedis(dir: string): Promise<EmbeddedRedis> {
  const absolute = path.resolve(dir);
  // Job data and the AOF live here: the directory is the owner's alone.
  ensurePrivateDir(absolute);
  const socketPath = path.join(absolute, 'redis.sock');
  const ownerFile = path.join(absolute, 'owner.pid');
  if (await respondsToPing(socketPath)) {
    const owner = liveOwnerOf(absolute);
    if (owner !== null) throw new Error(`${absolute} is in use by another running Phos (pid ${owner})`);
    // Orphaned by a process that died without stopping it: take its data over cleanly.
    const stale = new Redis({ path: socketPath, maxRetriesPerRequest: 0 });
    stale.on('error', () => undefined);
    await stale.shutdown('SAVE').catch(() => undefined);
    stale.disconnect();
  }
  if (existsSync(socketPath)) rmSync(socketPath);
  writeFileSync(ownerFile, String(process.pid));

  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--unixsocket',
      socketPath,
      '--unixsocketperm',
      '700',
      '--dir',
      absolute,
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--loglevel',
      'warning',
      '--logfile',
      path.join(absolute, 'redis.log'),
    ],
    // Holds none of this process's output open: a redis-server outliving a killed parent must
    // not keep whatever reads that output (a terminal, a CI run) waiting.
    { stdio: 'ignore' },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const spawnFailed = new Promise<never>((_, reject) =>
    child.once('error', (error) => reject(new Error(`could not start redis-server (${error.message}); install it or set REDIS_URL`))),
  );

  const ready = (async () => {
    for (let attempt = 0; attempt < 100; attempt++) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
      if (existsSync(socketPath) && (await respondsToPing(socketPath))) return;
      await delay(50);
    }
    throw new Error('redis-server did not become ready within 5 s');
  })();
  try {
    await Promise.race([ready, spawnFailed]);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(ownerFile, { force: true });
    throw error;
  }

  return {
    socketPath,
    async stop() {
      rmSync(ownerFile, { force: true });
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      // It flushes its AOF on SIGTERM; one that hangs past that is killed rather than waited on.
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
