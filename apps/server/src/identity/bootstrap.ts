import { passwordSchema } from '@phos/shared';
import type { Db } from '../db/client.js';
import { AppError } from '../errors.js';
import { passwordWeakness } from './passwordPolicy.js';
import { adminExists, createUser } from './users.js';

/**
 * The first Admin's password meets the policy every other password does: a start-up that would
 * create it with a guessable one stops with the reason, rather than leave the keys under the mat.
 */
async function refuseWeakAdminPassword(admin: { email: string; password: string }): Promise<void> {
  const parsed = passwordSchema.safeParse(admin.password);
  const problem = parsed.success
    ? await passwordWeakness(admin.password, { email: admin.email, firstName: 'Phos', lastName: 'Admin' })
    : (parsed.error.issues[0]?.message ?? 'Invalid password');
  if (problem) throw new Error(`PHOS_ADMIN_PASSWORD is refused: ${problem}`);
}

/** Creates the first Admin from configuration when no Admin exists yet. */
export async function ensureFirstAdmin(
  db: Db,
  admin: { email: string; password: string } | undefined,
): Promise<'created' | 'exists' | 'not-configured'> {
  if (await adminExists(db)) return 'exists';
  if (!admin) return 'not-configured';
  await refuseWeakAdminPassword(admin);
  try {
    await createUser(db, { ...admin, role: 'Admin', firstName: 'Phos', lastName: 'Admin' });
  } catch (error) {
    // The configured email already has an account (of another role): keep it, create nothing.
    if (error instanceof AppError && error.appCode === 'EMAIL_TAKEN') return 'exists';
    throw error;
  }
  return 'created';
}
