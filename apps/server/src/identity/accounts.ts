import { and, eq, isNotNull, isNull, ne, type SQL } from 'drizzle-orm';
import type { Account, AccountStatus, Role } from '@phos/shared';
import type { Db } from '../db/client.js';
import { AppError } from '../errors.js';
import { hashPassword, verifyPassword } from './password.js';
import { users } from './schema.js';
import { deleteUserSessions } from './sessions.js';
import { toUser } from './users.js';

type UserRow = typeof users.$inferSelect;

export function toAccount(row: UserRow): Account {
  return {
    ...toUser(row),
    status: row.disabledAt ? 'disabled' : 'active',
    createdAt: row.createdAt.toISOString(),
    disabledAt: row.disabledAt?.toISOString() ?? null,
  };
}

export async function listAccounts(
  db: Db,
  filter: { role?: Role | undefined; status?: AccountStatus | undefined } = {},
): Promise<Account[]> {
  const conditions: SQL[] = [];
  if (filter.role) conditions.push(eq(users.role, filter.role));
  if (filter.status === 'active') conditions.push(isNull(users.disabledAt));
  if (filter.status === 'disabled') conditions.push(isNotNull(users.disabledAt));
  const rows = await db
    .select()
    .from(users)
    .where(and(...conditions))
    .orderBy(users.lastName, users.firstName, users.email);
  return rows.map(toAccount);
}

/** The account, locked until the transaction ends, so two Admins acting on it take turns. */
async function lockAccount(tx: Db, id: string): Promise<UserRow> {
  const [row] = await tx.select().from(users).where(eq(users.id, id)).for('update');
  if (!row) throw new AppError('NOT_FOUND', 'No such account');
  return row;
}

/**
 * Refuses a change that would leave no enabled Admin. Locks every enabled Admin first, so two
 * Admins demoting or disabling each other at once cannot both succeed.
 */
async function keepAnAdmin(tx: Db, target: UserRow): Promise<void> {
  if (target.role !== 'Admin' || target.disabledAt) return;
  const others = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, 'Admin'), isNull(users.disabledAt), ne(users.id, target.id)))
    .for('update');
  if (others.length === 0) throw new AppError('FORBIDDEN', 'This is the last active Admin: make another Admin first');
}

async function updateAccount(tx: Db, id: string, values: Partial<typeof users.$inferInsert>): Promise<Account> {
  const [row] = await tx.update(users).set(values).where(eq(users.id, id)).returning();
  if (!row) throw new AppError('NOT_FOUND', 'No such account');
  return toAccount(row);
}

/**
 * Disables an account and signs it out everywhere, in the caller's transaction. An Admin cannot
 * disable themself (nobody could undo it from that session) nor the last active Admin.
 */
export async function disableAccount(tx: Db, actorId: string, id: string): Promise<Account> {
  if (actorId === id) throw new AppError('FORBIDDEN', 'You cannot disable your own account');
  const target = await lockAccount(tx, id);
  if (target.disabledAt) return toAccount(target);
  await keepAnAdmin(tx, target);
  await deleteUserSessions(tx, id);
  return updateAccount(tx, id, { disabledAt: new Date() });
}

export async function enableAccount(tx: Db, id: string): Promise<Account> {
  const target = await lockAccount(tx, id);
  if (!target.disabledAt) return toAccount(target);
  await deleteUserSessions(tx, id);
  return updateAccount(tx, id, { disabledAt: null });
}

/** Roles that an Admin may move an account between: Patient accounts carry a patient record. */
const interchangeableRoles: readonly Role[] = ['Provider', 'Admin'];

/**
 * Moves a staff account between Provider and Admin and signs it out everywhere, so nothing runs
 * on with the old role. A Patient account has a patient record from its registration and a staff
 * account has none, so neither becomes the other.
 */
export async function changeRole(tx: Db, id: string, role: Role): Promise<Account> {
  const target = await lockAccount(tx, id);
  if (target.role === role) return toAccount(target);
  if (!interchangeableRoles.includes(target.role) || !interchangeableRoles.includes(role)) {
    throw new AppError('INVALID_INPUT', 'Roles change only between Provider and Admin; Patient accounts keep their role');
  }
  await keepAnAdmin(tx, target);
  await deleteUserSessions(tx, id);
  return updateAccount(tx, id, { role });
}

/** Sets a new password for someone else (an Admin's reset) and signs them out everywhere. */
export async function resetPassword(tx: Db, id: string, password: string): Promise<void> {
  const passwordHash = await hashPassword(password);
  await lockAccount(tx, id);
  await deleteUserSessions(tx, id);
  await updateAccount(tx, id, { passwordHash, passwordChangedAt: new Date() });
}

/**
 * Changes the caller's own password once the current one checks out, and signs out every other
 * session of theirs: whoever may have learned the old password loses what it opened.
 */
export async function changeOwnPassword(
  tx: Db,
  input: { userId: string; currentPassword: string; newPassword: string; keepSession: string | null },
): Promise<void> {
  const row = await lockAccount(tx, input.userId);
  if (!(await verifyPassword(row.passwordHash, input.currentPassword))) throw new AppError('WRONG_PASSWORD');
  const passwordHash = await hashPassword(input.newPassword);
  await deleteUserSessions(tx, input.userId, input.keepSession ? { except: input.keepSession } : {});
  await updateAccount(tx, input.userId, { passwordHash, passwordChangedAt: new Date() });
}
