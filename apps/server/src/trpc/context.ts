import { randomUUID } from 'node:crypto';
import type { User } from '@phos/shared';
import pino, { type Logger } from 'pino';
import type { Db } from '../db/client.js';
import type { EventHub } from '../events/hub.js';

/** What procedures reach beyond the request: built once per process. */
export interface Services {
  db: Db;
  /** Moves committed outbox rows to the job queue now rather than on the next tick. */
  kickRelay: () => void;
  hub: EventHub;
  /** Tells every api instance that events up to this id are committed. Never throws. */
  announce: (lastEventId: bigint) => void;
  log: Logger;
}

/** Writes the session cookie; the HTTP adapter implements it, tests record what was set. */
export interface SessionCookie {
  set(token: string, expiresAt: Date): void;
  clear(): void;
}

export interface Context {
  db: Db;
  services: Services;
  user: User | null;
  sessionToken: string | null;
  sessionCookie: SessionCookie;
  log: Logger;
  requestId: string;
}

const noCookie: SessionCookie = { set: () => undefined, clear: () => undefined };

/** The context without HTTP, so router tests can `createCaller` against a real database. */
export function createContextInner(options: {
  services: Services;
  user?: User | null;
  sessionToken?: string | null;
  sessionCookie?: SessionCookie;
  requestId?: string;
}): Context {
  const requestId = options.requestId ?? randomUUID();
  return {
    db: options.services.db,
    services: options.services,
    user: options.user ?? null,
    sessionToken: options.sessionToken ?? null,
    sessionCookie: options.sessionCookie ?? noCookie,
    log: options.services.log.child({ requestId }),
    requestId,
  };
}

export const silentLogger: Logger = pino({ level: 'silent' });
