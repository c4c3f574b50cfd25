import { createHash, randomBytes } from 'node:crypto';
import { and, eq, gt, isNull, lte, ne, or, sql } from 'drizzle-orm';
import { staffRoles, type Role, type User } from '@phos/shared';
import type { Db } from '../db/client.js';
import { sessions, users } from './schema.js';
import { toUser, userColumns } from './users.js';

/** The cookie over plain http (development, tests). */
export const SESSION_COOKIE = 'phos_session';
/** Over https: `__Host-` makes the browser refuse it unless Secure, path `/` and no Domain. */
export const SECURE_SESSION_COOKIE = '__Host-phos_session';

export function sessionCookieName(secure: boolean): string {
  return secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
}

/** How long a session lives: idle timeouts by role, and an absolute end no activity moves. */
export interface SessionPolicy {
  staffIdleMs: number;
  patientIdleMs: number;
  absoluteMs: number;
}

/** ASVS 3.3: 15 minutes idle for staff, 30 for patients, 12 hours at most. */
export const defaultSessionPolicy: SessionPolicy = {
  staffIdleMs: 15 * 60_000,
  patientIdleMs: 30 * 60_000,
  absoluteMs: 12 * 3_600_000,
};

export function idleTimeoutFor(policy: SessionPolicy, role: Role): number {
  return staffRoles.includes(role) ? policy.staffIdleMs : policy.patientIdleMs;
}

/** A live session as a request sees it. */
export interface SessionRecord {
  /** sha256 of the cookie's token: stored, logged and keyed on instead of the token. */
  tokenHash: string;
  idleExpiresAt: Date;
  expiresAt: Date;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function idleEnd(policy: SessionPolicy, role: Role, now: Date, expiresAt: Date): Date {
  return new Date(Math.min(now.getTime() + idleTimeoutFor(policy, role), expiresAt.getTime()));
}

export async function createSession(
  db: Db,
  user: Pick<User, 'id' | 'role'>,
  policy: SessionPolicy,
): Promise<{ token: string } & SessionRecord> {
  const token = randomBytes(32).toString('base64url');
  const now = new Date();
  const expiresAt = new Date(now.getTime() + policy.absoluteMs);
  const session = { tokenHash: hashToken(token), idleExpiresAt: idleEnd(policy, user.role, now, expiresAt), expiresAt };
  await db.insert(sessions).values({ ...session, userId: user.id, lastSeenAt: now });
  return { token, ...session };
}

/** A session row (joined with its user) counts only while neither end has passed and its account is enabled. */
export function isLiveSession(now: Date) {
  return and(gt(sessions.idleExpiresAt, now), gt(sessions.expiresAt, now), isNull(users.disabledAt));
}

/** Ids of the users of this role with a live session now (e.g. whom to alert on screen). */
export async function signedInUserIds(db: Db, role: Role): Promise<string[]> {
  const rows = await db
    .selectDistinct({ id: users.id })
    .from(users)
    .innerJoin(sessions, eq(sessions.userId, users.id))
    .where(and(eq(users.role, role), isLiveSession(new Date())));
  return rows.map((row) => row.id);
}

/**
 * Renewal writes only once the idle end would move by more than this: a burst of requests
 * writes once, and the end is never more than this short of what activity earned.
 */
function renewalStep(idleMs: number): number {
  return Math.min(30_000, idleMs / 20);
}

/**
 * Pushes the idle end to now + the role's idle timeout (never past the absolute end). Only a
 * session still live is renewed: an expired one stays expired. `force` writes even within the step.
 */
export async function renewSession(
  db: Db,
  session: SessionRecord,
  role: Role,
  policy: SessionPolicy,
  options: { force?: boolean } = {},
): Promise<SessionRecord | null> {
  const now = new Date();
  const target = idleEnd(policy, role, now, session.expiresAt);
  const step = options.force ? 0 : renewalStep(idleTimeoutFor(policy, role));
  if (target.getTime() - session.idleExpiresAt.getTime() <= step) return session;
  const [row] = await db
    .update(sessions)
    .set({ idleExpiresAt: target, lastSeenAt: now })
    .where(and(eq(sessions.tokenHash, session.tokenHash), gt(sessions.idleExpiresAt, now), gt(sessions.expiresAt, now)))
    .returning({ tokenHash: sessions.tokenHash, idleExpiresAt: sessions.idleExpiresAt, expiresAt: sessions.expiresAt });
  return row ?? null;
}

/**
 * The user and session of a cookie's token, or null when it is unknown, idle or past its end,
 * or its account is disabled. `renew` slides the idle end: every request but a stream's does,
 * so a dashboard left open with only its live view running idles out.
 */
export async function resolveSession(
  db: Db,
  token: string,
  policy: SessionPolicy,
  options: { renew: boolean },
): Promise<{ user: User; session: SessionRecord } | null> {
  const now = new Date();
  const [row] = await db
    .select({
      // Every authenticated request comes this way: only what a User is, never the password hash.
      user: userColumns,
      session: { tokenHash: sessions.tokenHash, idleExpiresAt: sessions.idleExpiresAt, expiresAt: sessions.expiresAt },
    })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.tokenHash, hashToken(token)), isLiveSession(now)));
  if (!row) return null;
  const user = toUser(row.user);
  if (!options.renew) return { user, session: row.session };
  const session = await renewSession(db, row.session, user.role, policy);
  return session ? { user, session } : null;
}

export async function deleteSession(db: Db, token: string): Promise<void> {
  await db.delete(sessions).where(eq(sessions.tokenHash, hashToken(token)));
}

/** Signs a user out everywhere, or everywhere but the session whose hash is `except`. */
export async function deleteUserSessions(db: Db, userId: string, options: { except?: string } = {}): Promise<number> {
  const deleted = await db
    .delete(sessions)
    .where(and(eq(sessions.userId, userId), options.except ? ne(sessions.tokenHash, options.except) : undefined))
    .returning({ tokenHash: sessions.tokenHash });
  return deleted.length;
}

/** Removes sessions past either end; returns how many. */
export async function deleteExpiredSessions(db: Db, now = new Date()): Promise<number> {
  const deleted = await db
    .delete(sessions)
    .where(or(lte(sessions.idleExpiresAt, now), lte(sessions.expiresAt, now)))
    .returning({ tokenHash: sessions.tokenHash });
  return deleted.length;
}

/** Which user, in which role, a stream was opened as: it lives while this still holds. */
export interface StreamHolder {
  tokenHash: string;
  userId: string;
  role: Role;
}

/**
 * The user and role now behind each of these sessions that is still live, in one query however
 * many there are: a signed-out, expired or disabled one is missing from the answer.
 */
export async function liveSessionHolders(db: Db, tokenHashes: readonly string[]): Promise<Map<string, StreamHolder>> {
  if (tokenHashes.length === 0) return new Map();
  const rows = await db
    .select({ tokenHash: sessions.tokenHash, userId: users.id, role: users.role })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    // One array parameter, not one per session: with thousands of open streams, building and binding
    // thousands of parameters cost Phos 30–120 ms of CPU a check.
    .where(and(sql`${sessions.tokenHash} = any(${sql.param([...tokenHashes])}::text[])`, isLiveSession(new Date())));
  return new Map(rows.map((row) => [row.tokenHash, row]));
}
