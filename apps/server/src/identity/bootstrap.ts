import type { Db } from '../db/client.js';
import { AppError } from '../errors.js';
import { adminExists, createUser } from './users.js';

/** Creates the first Admin from configuration when no Admin exists yet. */
export async function ensureFirstAdmin(
  db: Db,
  admin: { email: string; password: string } | undefined,
): Promise<'created' | 'exists' | 'not-configured'> {
  if (await adminExists(db)) return 'exists';
  if (!admin) return 'not-configured';
  try {
    await createUser(db, { ...admin, role: 'Admin', firstName: 'Phos', lastName: 'Admin' });
  } catch (error) {
    // The configured email already has an account (of another role): keep it, create nothing.
    if (error instanceof AppError && error.appCode === 'EMAIL_TAKEN') return 'exists';
    throw error;
  }
  return 'created';
}
