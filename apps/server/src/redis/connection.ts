import { Redis, type RedisOptions } from 'ioredis';

/** Where Redis is: a URL, or the unix socket of the embedded server. */
export type RedisTarget = { url: string } | { path: string };

export function redisOptions(target: RedisTarget): RedisOptions {
  if ('path' in target) return { path: target.path };
  const url = new URL(target.url);
  return {
    host: url.hostname,
    port: url.port === '' ? 6379 : Number(url.port),
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
    tls: url.protocol === 'rediss:' ? {} : undefined,
  };
}

/**
 * A connection for blocking consumers (workers, subscribers): commands wait for a reconnect
 * instead of failing, as BullMQ requires.
 */
export function connectBlocking(target: RedisTarget, extra: RedisOptions = {}): Redis {
  return new Redis({ ...redisOptions(target), ...extra, maxRetriesPerRequest: null });
}

/** A connection for producers: commands fail fast while Redis is down, so callers can retry later. */
export function connectFailFast(target: RedisTarget): Redis {
  return new Redis({ ...redisOptions(target), enableOfflineQueue: false, maxRetriesPerRequest: 1 });
}

/**
 * A connection for checks on a request's path (sign-in throttling): commands wait for a
 * (re)connect, but at most `timeoutMs`, then fail, so the request is answered either way.
 */
export function connectBounded(target: RedisTarget, timeoutMs = 2_000): Redis {
  return new Redis({ ...redisOptions(target), commandTimeout: timeoutMs, maxRetriesPerRequest: 1 });
}
