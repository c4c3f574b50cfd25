import { randomUUID } from 'node:crypto';
import type { User } from '@phos/shared';
import pino, { type Logger } from 'pino';
import type { AuditActor } from '../audit/audit.js';
import type { Db } from '../db/client.js';
import type { Services } from '../services.js';
import type { EventMeta } from '../events/meta.js';
import { activeTraceparent } from '../trace-context.js';

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
  /** What the events this request appends carry: its id, so a change can be followed from click to push. */
  eventMeta: EventMeta;
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
  // Tracing on: the request's span, so the pushes of the events it appends continue its trace.
  const traceparent = activeTraceparent();
  return {
    db: options.services.db,
    services: options.services,
    user: options.user ?? null,
    session: options.session ?? null,
    sessionToken: options.sessionToken ?? null,
    sessionCookie: options.sessionCookie ?? noCookie,
    log: options.services.log.child({ requestId }),
    requestId,
    eventMeta: traceparent === undefined ? { requestId } : { requestId, traceparent },
    ip: options.ip ?? null,
  };
}

/** Who is acting in this request, as the audit trail records it. */
export function auditActorOf(ctx: Pick<Context, 'user' | 'ip' | 'requestId'>): AuditActor {
  return { userId: ctx.user?.id ?? null, role: ctx.user?.role ?? null, ip: ctx.ip, requestId: ctx.requestId };
}

export const silentLogger: Logger = pino({ level: 'silent' });
