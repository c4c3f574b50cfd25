import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as zxcvbnCommon from '@zxcvbn-ts/language-common';
import * as zxcvbnEn from '@zxcvbn-ts/language-en';
import { MIN_PASSWORD_SCORE, passwordUserInputs, SCORED_PASSWORD_LENGTH, type PasswordOwner } from '@phos/shared';
import type { z } from 'zod';

/**
 * zxcvbn-ts with its common-password, breached-password and English dictionaries: an offline
 * scorer, so no password leaves the server to be checked. Built on first use (the dictionaries
 * take a few hundred milliseconds to load) and read-only after that.
 */
let scorer: ZxcvbnFactory | undefined;
function passwordScorer(): ZxcvbnFactory {
  scorer ??= new ZxcvbnFactory({
    translations: zxcvbnEn.translations,
    graphs: zxcvbnCommon.adjacencyGraphs,
    dictionary: { ...zxcvbnCommon.dictionary, ...zxcvbnEn.dictionary },
  });
  return scorer;
}

/**
 * Why a new password is too easy to guess for this person, in words for the form, or null when
 * it is strong enough. Length and blank passwords are `passwordSchema`'s job; this scores what
 * passes it against common and breached passwords and the person's own name, email and birth date.
 */
export function passwordWeakness(password: string, owner: PasswordOwner): string | null {
  const result = passwordScorer().check(password.slice(0, SCORED_PASSWORD_LENGTH), passwordUserInputs(owner));
  if (result.score >= MIN_PASSWORD_SCORE) return null;
  const warning = result.feedback.warning;
  return warning ? `Too easy to guess: add another word or two. ${warning}` : 'Too easy to guess: add another word or two.';
}

/**
 * Adds the strength check to an input schema, as an issue on its password field, so the form
 * shows it under that field. `ownerOf` says whose password it is (their name and email count as
 * easy guesses). Runs only once the rest of the input is valid. Scoring takes CPU: use it where
 * callers are trusted or throttled (an Admin creating accounts); public registration checks in
 * its resolver, after the per-address throttle (`requireStrongPassword`).
 */
export function strongPasswordInput<T extends z.ZodType<Record<string, unknown>>>(
  schema: T,
  field: keyof z.output<T> & string,
  ownerOf: (input: z.output<T>) => PasswordOwner = (input) => input,
): T {
  return schema.superRefine((input, ctx) => {
    const password = input[field];
    if (typeof password !== 'string') return;
    const weakness = passwordWeakness(password, ownerOf(input));
    if (weakness) ctx.addIssue({ code: 'custom', path: [field], message: weakness });
  });
}
