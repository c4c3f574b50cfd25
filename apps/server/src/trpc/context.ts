import { randomUUID } from 'node:crypto';
import type { User } from '@phos/shared';
import pino, { type Logger } from 'pino';
import type { AuditActor } from '../audit/audit.js';
import type { Db } from '../db/client.js';
import type { EventHub } from '../events/hub.js';
import type { SignInGuard } from '../identity/throttle.js';
import type { SessionPolicy } from '../identity/sessions.js';
import type { StreamRegistry } from './streams.js';

/** What procedures reach beyond the request: built once per process. */
export interface Services {
  db: Db;
  /** Moves committed outbox rows to the job queue now rather than on the next tick. */
  kickRelay: () => void;
  hub: EventHub;
  /** Tells every api instance that events up to this id are committed. Never throws. */
  announce: (lastEventId: bigint) => void;
  log: Logger;
  /** Counts sign-in failures and registrations per account and address, across api instances. */
  signIn: SignInGuard;
  /** Idle timeouts by role and the absolute session lifetime. */
  sessionPolicy: SessionPolicy;
  /** This instance's open streams, each ended when its session ends. */
  streams: StreamRegistry;
  /** After sessions were deleted or their user disabled or re-roled: every api instance ends their streams now. Never throws. */
  sessionsRevoked: () => void;
}

/** Writes the session cookie; the HTTP adapter implements it, tests record what was set. */
export interface SessionCookie {
  set(token: string): void;
  clear(): void;
}

/** The session a request was made in, as resolved (and renewed) when the request arrived. */
export interface RequestSession {
  /** sha256 of the cookie's token: what the server stores and what streams are keyed by. */
  tokenHash: string;
  idleExpiresAt: Date;
  expiresAt: Date;
}

export interface Context {
  db: Db;
  services: Services;
  user: User | null;
  session: RequestSession | null;
  /** The raw cookie token, only to end this very session (sign-out). */
  sessionToken: string | null;
  sessionCookie: SessionCookie;
  log: Logger;
  requestId: string;
  /** The client's address as the trusted proxy chain reports it. */
  ip: string | null;
}

const noCookie: SessionCookie = { set: () => undefined, clear: () => undefined };

/** The context without HTTP, so router tests can `createCaller` against a real database. */
export function createContextInner(options: {
  services: Services;
  user?: User | null;
  session?: RequestSession | null;
  sessionToken?: string | null;
  sessionCookie?: SessionCookie;
  requestId?: string;
  ip?: string | null;
}): Context {
  const requestId = options.requestId ?? randomUUID();
  return {
    db: options.services.db,
    services: options.services,
    user: options.user ?? null,
    session: options.session ?? null,
    sessionToken: options.sessionToken ?? null,
    sessionCookie: options.sessionCookie ?? noCookie,
    log: options.services.log.child({ requestId }),
    requestId,
    ip: options.ip ?? null,
  };
}

/** Who is acting in this request, as the audit trail records it. */
export function auditActorOf(ctx: Pick<Context, 'user' | 'ip' | 'requestId'>): AuditActor {
  return { userId: ctx.user?.id ?? null, role: ctx.user?.role ?? null, ip: ctx.ip, requestId: ctx.requestId };
}

export const silentLogger: Logger = pino({ level: 'silent' });
