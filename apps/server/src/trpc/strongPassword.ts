import type { PasswordOwner } from '@phos/shared';
import { TRPCError } from '@trpc/server';
import { ZodRealError } from 'zod';
import { passwordWeakness } from '../identity/passwordPolicy.js';

/**
 * The strength check, made in the resolver: a BAD_REQUEST whose zod field error sits on `field`,
 * as an input schema's issue would, so the form shows it under that field. Not an `.input()`
 * refinement: tRPC makes anything thrown while parsing a BAD_REQUEST, and a scoring thread that
 * died must answer INTERNAL. Scoring takes CPU: call it where callers are trusted or throttled.
 */
export async function requireStrongPassword(password: string, owner: PasswordOwner, field: string): Promise<void> {
  const weakness = await passwordWeakness(password, owner);
  if (!weakness) return;
  throw new TRPCError({
    code: 'BAD_REQUEST',
    message: weakness,
    // ZodRealError is the Error-derived ZodError that parsing throws; tRPC keeps only Errors as causes.
    cause: new ZodRealError([{ code: 'custom', path: [field], message: weakness, input: undefined }]),
  });
}
