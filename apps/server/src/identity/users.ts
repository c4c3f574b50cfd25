import { eq, sql } from 'drizzle-orm';
import type { CreateUserInput, User } from '@phos/shared';
import type { Db } from '../db/client.js';
import { writeOutbox } from '../events/outbox.js';
import { AppError } from '../errors.js';
import { decoyPasswordHash, hashPassword, verifyPassword } from './password.js';
import { users } from './schema.js';

type UserRow = typeof users.$inferSelect;

export function toUser(row: UserRow): User {
  return { id: row.id, email: row.email, role: row.role, firstName: row.firstName, lastName: row.lastName };
}

function isUniqueViolation(error: unknown): boolean {
  for (let cause = error; cause instanceof Error || (typeof cause === 'object' && cause !== null); ) {
    if ((cause as { code?: unknown }).code === '23505') return true;
    cause = (cause as { cause?: unknown }).cause;
    if (cause === undefined) break;
  }
  return false;
}

/**
 * Creates an account and states, in the same transaction, that a user registered. Identity
 * says nothing about patients: whoever cares about `user.registered` takes it from there.
 * Returns the user and the id of the outbox event that announces it.
 */
export async function createUser(db: Db, input: CreateUserInput): Promise<{ user: User; registrationId: string }> {
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
      const registrationId = await writeOutbox(tx, 'user.registered', {
        userId: row.id,
        role: row.role,
        email: row.email,
        firstName: row.firstName,
        lastName: row.lastName,
        dateOfBirth: input.dateOfBirth ?? null,
        registeredAt: row.createdAt.toISOString(),
      });
      return { user: toUser(row), registrationId };
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

/** One answer for an unknown email and a wrong password, in about the same time. */
export async function authenticate(db: Db, email: string, password: string): Promise<User> {
  const row = await findUserByEmail(db, email);
  const valid = await verifyPassword(row?.passwordHash ?? (await decoyPasswordHash()), password);
  if (!row || !valid) throw new AppError('INVALID_CREDENTIALS');
  return toUser(row);
}

export async function listUsersByRole(db: Db, role: User['role']): Promise<User[]> {
  const rows = await db.select().from(users).where(eq(users.role, role)).orderBy(users.lastName, users.firstName);
  return rows.map(toUser);
}

export function displayName(user: Pick<User, 'firstName' | 'lastName'>): string {
  return `${user.firstName} ${user.lastName}`;
}

export async function adminExists(db: Db): Promise<boolean> {
  const [row] = await db.select({ id: users.id }).from(users).where(eq(users.role, 'Admin')).limit(1);
  return row !== undefined;
}
