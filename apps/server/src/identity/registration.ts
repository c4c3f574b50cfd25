import { sql } from 'drizzle-orm';
import type { RegisterInput, User } from '@phos/shared';
import type { Db } from '../db/client.js';
import { outbox } from '../outbox/schema.js';
import { AppError } from '../errors.js';
import { decoyPasswordHash, verifyPassword } from './password.js';
import { createSession, type SessionPolicy, type SessionRecord } from './sessions.js';
import { createUser, findUserByEmail, toUser } from './users.js';

/** How long after a registration the same registration, sent again, signs in rather than conflicts. */
export const REGISTRATION_RETRY_WINDOW_MS = 10 * 60_000;

export interface Registered {
  user: User;
  registrationId: string;
  session: { token: string } & SessionRecord;
  /** True when this was a retry of a registration that had already committed. */
  retried: boolean;
}

/**
 * Self-registration as one outcome: the Patient account, its `user.registered` outbox row and
 * its first session commit together, or none do. `alsoInTransaction` (the audit row) runs in
 * the same transaction, once.
 *
 * A client that lost the answer (a timeout, a dropped connection) and sends the same
 * registration again gets that account and a new session instead of EMAIL_TAKEN, when: the
 * account was registered less than `retryWindowMs` ago, is an enabled Patient whose password
 * has not changed since, with the same name and date of birth, and the password verifies.
 * That grants nothing `auth.login` would not. Every other clash answers EMAIL_TAKEN, after the
 * same work (one hash, one verification, against a decoy when the account is not eligible), so
 * the answer and its timing say no more than the conflict itself did before.
 */
export async function registerWithSession(
  db: Db,
  input: RegisterInput,
  options: {
    policy: SessionPolicy;
    /** The request registering: see `createUser`. */
    requestId: string | null;
    retryWindowMs?: number;
    alsoInTransaction: (tx: Db, registered: { user: User; registrationId: string; retried: boolean }) => Promise<void>;
  },
): Promise<Registered> {
  let session: Registered['session'] | undefined;
  try {
    const created = await createUser(
      db,
      { ...input, role: 'Patient' },
      {
        requestId: options.requestId,
        alsoInTransaction: async (tx, made) => {
          session = await createSession(tx, made.user, options.policy);
          await options.alsoInTransaction(tx, { ...made, retried: false });
        },
      },
    );
    if (!session) throw new Error('registration committed without its session');
    return { ...created, session, retried: false };
  } catch (error) {
    if (!(error instanceof AppError) || error.appCode !== 'EMAIL_TAKEN') throw error;
    const retried = await retryOf(db, input, options.retryWindowMs ?? REGISTRATION_RETRY_WINDOW_MS);
    if (!retried) throw error;
    return db.transaction(async (tx) => {
      const again = await createSession(tx, retried.user, options.policy);
      await options.alsoInTransaction(tx, { ...retried, retried: true });
      return { ...retried, session: again, retried: true };
    });
  }
}

/** The committed registration this one repeats, or null (see `registerWithSession`). */
async function retryOf(db: Db, input: RegisterInput, windowMs: number): Promise<{ user: User; registrationId: string } | null> {
  const row = await findUserByEmail(db, input.email);
  const registration = row ? await registrationOf(db, row.id) : undefined;
  const eligible =
    row !== undefined &&
    registration !== undefined &&
    row.role === 'Patient' &&
    row.disabledAt === null &&
    row.passwordChangedAt === null &&
    Date.now() - row.createdAt.getTime() < windowMs &&
    row.firstName === input.firstName &&
    row.lastName === input.lastName &&
    registration.dateOfBirth === input.dateOfBirth;
  const verified = await verifyPassword(eligible ? row.passwordHash : await decoyPasswordHash(), input.password);
  if (!eligible || !verified) return null;
  return { user: toUser(row), registrationId: registration.id };
}

/** The user's own `user.registered` event: its id, and the date of birth it was registered with. */
async function registrationOf(db: Db, userId: string): Promise<{ id: string; dateOfBirth: string | null } | undefined> {
  const [row] = await db
    .select({ id: outbox.id, dateOfBirth: sql<string | null>`${outbox.payload}->>'dateOfBirth'` })
    .from(outbox)
    .where(sql`${outbox.type} = 'user.registered' and ${outbox.payload}->>'userId' = ${userId}`)
    .limit(1);
  return row;
}
