import type { PasswordOwner } from '@phos/shared';
import { TRPCError } from '@trpc/server';
import { ZodRealError } from 'zod';
import { passwordWeakness } from '../identity/passwordPolicy.js';

/**
 * The strength check for a procedure that learns whose password it is only once it runs (the
 * signed-in user changing theirs, an Admin resetting someone's): a BAD_REQUEST whose zod field
 * error sits on `field`, exactly as `strongPasswordInput` reports it, so the form shows it there.
 */
export function requireStrongPassword(password: string, owner: PasswordOwner, field: string): void {
  const weakness = passwordWeakness(password, owner);
  if (!weakness) return;
  throw new TRPCError({
    code: 'BAD_REQUEST',
    message: weakness,
    // ZodRealError is the Error-derived ZodError that parsing throws; tRPC keeps only Errors as causes.
    cause: new ZodRealError([{ code: 'custom', path: [field], message: weakness, input: undefined }]),
  });
}
