import { randomBytes } from 'node:crypto';
import { and, desc, eq, gt, isNull, lt, or } from 'drizzle-orm';
import { parseSystemScope, type ApiClient, type ApiClientStatus, type ScopePermission } from '@phos/shared';
import type { Db } from '../db/client.js';
import { AppError } from '../errors.js';
import { apiClients, users } from './schema.js';
import { hashToken } from './sessions.js';
import { displayName } from './users.js';

/** What a request authenticated with an API client's token acts as. */
export interface ApiClientPrincipal {
  id: string;
  name: string;
  /** SMART v2 system scopes (`system/Patient.rs`); check them with `scopesAllow`. */
  scopes: string[];
  /** The Admin who created the client. */
  createdBy: string;
}

const TOKEN_PREFIX = 'phos_';
/** `phos_` and 32 random bytes in base64url (43 characters). */
const tokenShape = /^phos_[A-Za-z0-9_-]{43}$/;
/** How much of a token the list shows: enough to tell tokens apart, far too little to guess the rest. */
const SHOWN_PREFIX_LENGTH = TOKEN_PREFIX.length + 6;
/** A client's `last_used_at` is written at most this often, so a busy client does not write on every call. */
export const LAST_USED_STEP_MS = 60_000;

type ApiClientRow = typeof apiClients.$inferSelect;

function statusOf(row: Pick<ApiClientRow, 'revokedAt' | 'expiresAt'>, now: Date): ApiClientStatus {
  if (row.revokedAt) return 'revoked';
  if (row.expiresAt && row.expiresAt.getTime() <= now.getTime()) return 'expired';
  return 'active';
}

function toApiClient(row: ApiClientRow, createdByName: string, now = new Date()): ApiClient {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    status: statusOf(row, now),
    tokenPrefix: row.tokenPrefix,
    createdAt: row.createdAt.toISOString(),
    createdBy: row.createdBy,
    createdByName,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}

async function nameOf(db: Db, userId: string): Promise<string> {
  const [row] = await db.select({ firstName: users.firstName, lastName: users.lastName }).from(users).where(eq(users.id, userId));
  return row ? displayName(row) : '';
}

/**
 * Creates a client with its token, in the caller's transaction. The token is in the answer and
 * nowhere else: only its sha256 is stored. `scopes` are already in v2 form (the shared schema's output).
 */
export async function createApiClient(
  db: Db,
  createdBy: string,
  input: { name: string; scopes: readonly string[]; expiresAt?: Date | null | undefined },
): Promise<{ client: ApiClient; token: string }> {
  if (input.scopes.length === 0 || input.scopes.some((scope) => parseSystemScope(scope) === null)) {
    throw new AppError('INVALID_INPUT', 'Every scope must be a SMART system scope for a resource type Phos serves');
  }
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const [row] = await db
    .insert(apiClients)
    .values({
      name: input.name,
      tokenHash: hashToken(token),
      tokenPrefix: token.slice(0, SHOWN_PREFIX_LENGTH),
      scopes: [...input.scopes],
      createdBy,
      expiresAt: input.expiresAt ?? null,
    })
    .returning();
  if (!row) throw new Error('api client insert returned no row');
  return { client: toApiClient(row, await nameOf(db, createdBy)), token };
}

/** Every client, newest first, revoked and expired ones included. */
export async function listApiClients(db: Db): Promise<ApiClient[]> {
  const rows = await db
    .select({ client: apiClients, firstName: users.firstName, lastName: users.lastName })
    .from(apiClients)
    .innerJoin(users, eq(users.id, apiClients.createdBy))
    .orderBy(desc(apiClients.createdAt), apiClients.id);
  const now = new Date();
  return rows.map((row) => toApiClient(row.client, displayName(row), now));
}

/**
 * Revokes a client for good, in the caller's transaction: its next request is refused. Revoking
 * a revoked client changes nothing (its first revocation's time and Admin stay).
 */
export async function revokeApiClient(db: Db, id: string, revokedBy: string): Promise<ApiClient> {
  const now = new Date();
  const [revoked] = await db
    .update(apiClients)
    .set({ revokedAt: now, revokedBy })
    .where(and(eq(apiClients.id, id), isNull(apiClients.revokedAt)))
    .returning();
  const row = revoked ?? (await db.select().from(apiClients).where(eq(apiClients.id, id)))[0];
  if (!row) throw new AppError('NOT_FOUND', 'No such API client');
  return toApiClient(row, await nameOf(db, row.createdBy), now);
}

/**
 * The client a bearer token belongs to, or null when it is unknown, revoked or expired. The token
 * is hashed and the hash looked up by index, so the time taken says nothing about how close a
 * guess came. `last_used_at` moves at most once a `LAST_USED_STEP_MS`.
 */
export async function authenticateApiClient(db: Db, bearerToken: string): Promise<ApiClientPrincipal | null> {
  // Not one of Phos's tokens at all: nothing to look up.
  if (!tokenShape.test(bearerToken)) return null;
  const now = new Date();
  const [row] = await db
    .select({
      id: apiClients.id,
      name: apiClients.name,
      scopes: apiClients.scopes,
      createdBy: apiClients.createdBy,
      lastUsedAt: apiClients.lastUsedAt,
    })
    .from(apiClients)
    .where(
      and(
        eq(apiClients.tokenHash, hashToken(bearerToken)),
        isNull(apiClients.revokedAt),
        or(isNull(apiClients.expiresAt), gt(apiClients.expiresAt, now)),
      ),
    );
  if (!row) return null;
  const staleBefore = new Date(now.getTime() - LAST_USED_STEP_MS);
  if (!row.lastUsedAt || row.lastUsedAt < staleBefore) {
    // The condition again in SQL: of many requests racing past the check above, one writes.
    await db
      .update(apiClients)
      .set({ lastUsedAt: now })
      .where(and(eq(apiClients.id, row.id), or(isNull(apiClients.lastUsedAt), lt(apiClients.lastUsedAt, staleBefore))));
  }
  return { id: row.id, name: row.name, scopes: row.scopes, createdBy: row.createdBy };
}

/**
 * Whether these scopes grant `permission` on `resourceType`: a scope for that type or for `*`
 * that lists it. v1 scopes count as their v2 equals; a scope that does not parse grants nothing.
 */
export function scopesAllow(scopes: readonly string[], resourceType: string, permission: ScopePermission): boolean {
  return scopes.some((scope) => {
    const parsed = parseSystemScope(scope);
    return (
      parsed !== null && (parsed.resourceType === '*' || parsed.resourceType === resourceType) && parsed.permissions.includes(permission)
    );
  });
}

/**
 * The client with this id while it may still act (neither revoked nor expired), or null: what
 * work a client started earlier (a bulk export) checks before it runs.
 */
export async function findActiveApiClient(db: Db, id: string): Promise<ApiClientPrincipal | null> {
  const now = new Date();
  const [row] = await db
    .select({ id: apiClients.id, name: apiClients.name, scopes: apiClients.scopes, createdBy: apiClients.createdBy })
    .from(apiClients)
    .where(and(eq(apiClients.id, id), isNull(apiClients.revokedAt), or(isNull(apiClients.expiresAt), gt(apiClients.expiresAt, now))));
  return row ?? null;
}
