import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { CreateUserInput, User } from '@phos/shared';
import type { Db } from '../db/client.js';
import { writeOutbox } from '../outbox/outbox.js';
import { AppError } from '../errors.js';
import { decoyPasswordHash, hashPassword, verifyPassword } from './password.js';
import { users } from './schema.js';

type UserRow = typeof users.$inferSelect;

/** The columns a `User` is made of: a query that needs no more leaves the password hash where it is. */
export const userColumns = {
  id: users.id,
  email: users.email,
  role: users.role,
  firstName: users.firstName,
  lastName: users.lastName,
};

export function toUser(row: Pick<UserRow, keyof typeof userColumns>): User {
  return { id: row.id, email: row.email, role: row.role, firstName: row.firstName, lastName: row.lastName };
}

function isUniqueViolation(error: unknown): boolean {
  for (let cause = error; cause instanceof Error || (typeof cause === 'object' && cause !== null);) {
    if ((cause as { code?: unknown }).code === '23505') return true;
    cause = (cause as { cause?: unknown }).cause;
    if (cause === undefined) break;
  }
  return false;
}

/**
 * Creates an account and states, in the same transaction, that a user registered. Identity
 * says nothing about patients: whoever cares about `user.registered` takes it from there.
 * Returns the user and the id of the outbox event that announces it. `alsoInTransaction` runs
 * last in that transaction (the audit row), after the costly hashing, which stays outside it.
 */
export async function createUser(
  db: Db,
  input: CreateUserInput,
  options: {
    /** The request that asked for it, carried by its `user.registered` event. */
    requestId?: string | null;
    alsoInTransaction?: (tx: Db, created: { user: User; registrationId: string }) => Promise<void>;
  } = {},
): Promise<{ user: User; registrationId: string }> {
  const passwordHash = await hashPassword(input.password);
  try {
    return await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(users)
        .values({
          email: input.email,
          passwordHash,
          role: input.role,
          firstName: input.firstName,
          lastName: input.lastName,
        })
        .returning();
      if (!row) throw new Error('user insert returned no row');
      const registrationId = await writeOutbox(
        tx,
        'user.registered',
        {
          userId: row.id,
          role: row.role,
          email: row.email,
          firstName: row.firstName,
          lastName: row.lastName,
          dateOfBirth: input.dateOfBirth ?? null,
          registeredAt: row.createdAt.toISOString(),
        },
        options.requestId ?? null,
      );
      const created = { user: toUser(row), registrationId };
      await options.alsoInTransaction?.(tx, created);
      return created;
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new AppError('EMAIL_TAKEN', 'An account with this email already exists');
    throw error;
  }
}

export async function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  const [row] = await db
    .select()
    .from(users)
    .where(sql`lower(${users.email}) = lower(${email})`);
  return row;
}

export async function findUserById(db: Db, id: string): Promise<User | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id));
  return row ? toUser(row) : undefined;
}

/** The user with this id while the account is enabled: what work a user started earlier checks before it runs. */
export async function findActiveUserById(db: Db, id: string): Promise<User | undefined> {
  const [row] = await db
    .select(userColumns)
    .from(users)
    .where(and(eq(users.id, id), isNull(users.disabledAt)));
  return row ? toUser(row) : undefined;
}

/**
 * One answer for an unknown email and a wrong password, in about the same time. Only the right
 * password learns that the account is disabled: a guesser cannot tell disabled accounts apart.
 */
export async function authenticate(db: Db, email: string, password: string): Promise<User> {
  const row = await findUserByEmail(db, email);
  const valid = await verifyPassword(row?.passwordHash ?? (await decoyPasswordHash()), password);
  if (!row || !valid) throw new AppError('INVALID_CREDENTIALS');
  if (row.disabledAt) throw new AppError('ACCOUNT_DISABLED');
  return toUser(row);
}

/** Enabled accounts of a role (whom to offer, e.g. as the clinician): a disabled one is not offered. */
export async function listUsersByRole(db: Db, role: User['role']): Promise<User[]> {
  const rows = await db
    .select()
    .from(users)
    .where(and(eq(users.role, role), isNull(users.disabledAt)))
    .orderBy(users.lastName, users.firstName);
  return rows.map(toUser);
}

export function displayName(user: Pick<User, 'firstName' | 'lastName'>): string {
  return `${user.firstName} ${user.lastName}`;
}

/** The display names of these users, by id (for naming who acted, e.g. in the audit trail). */
export async function displayNamesOf(db: Db, ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .select({ id: users.id, firstName: users.firstName, lastName: users.lastName })
    .from(users)
    .where(inArray(users.id, [...ids]));
  return new Map(rows.map((row) => [row.id, displayName(row)]));
}

export async function adminExists(db: Db): Promise<boolean> {
  const [row] = await db.select({ id: users.id }).from(users).where(eq(users.role, 'Admin')).limit(1);
  return row !== undefined;
}
