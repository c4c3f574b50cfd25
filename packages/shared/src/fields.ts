import { z } from 'zod';

export const emailSchema = z.string().trim().max(254, 'Email is too long').pipe(z.email('Enter a valid email address'));

/**
 * A new password: 12 or more characters once runs of spaces count as one (ASVS 2.1.1), never
 * only spaces. It is kept exactly as typed; the server also scores it (see `MIN_PASSWORD_SCORE`).
 */
export const passwordSchema = z
  .string()
  .min(12, 'Password must be at least 12 characters')
  .max(256, 'Password must be at most 256 characters')
  .superRefine((value, ctx) => {
    if (value.length < 12) return; // said above: one message per problem
    if (value.trim() === '') ctx.addIssue({ code: 'custom', message: 'Password cannot be only spaces' });
    else if (value.trim().replace(/\s+/gu, ' ').length < 12) {
      ctx.addIssue({ code: 'custom', message: 'Password must be at least 12 characters, not counting extra spaces' });
    }
  });

/* eslint-disable no-control-regex -- these patterns exist to find control characters */
/** C0 and C1 controls, NUL included: never part of a name or a note a person typed. */
const controlCharacters = /[\u0000-\u001F\u007F-\u009F]/u;
/** The same, less the tab and newline a multi-line note may hold. */
const controlsBesidesTabAndNewline = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/u;
/* eslint-enable no-control-regex */
/**
 * Marks, embeddings, overrides and isolates that reorder how text displays ("Trojan Source"):
 * a name could read one way on screen and sort or match another.
 */
const directionControls = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;
/** Half of a UTF-16 pair on its own: JSON can carry one, PostgreSQL cannot store it. */
const loneSurrogate = /\p{Cs}/u;
/**
 * Zero-width characters, fillers that render as nothing (Hangul fillers are the usual "blank
 * name" trick), soft hyphens and spaces: a value of only these looks blank but is not.
 */
const onlyInvisible = /^[\s\u00AD\u115F\u1160\u180E\u200B-\u200D\u2060-\u2064\u3164\uFEFF\uFFA0]+$/u;

/** Refuses what a person never means to type but an attacker or a bad paste brings. */
function refuseHiddenCharacters(lines: 'single' | 'multi') {
  const controls = lines === 'single' ? controlCharacters : controlsBesidesTabAndNewline;
  return (value: string, ctx: z.RefinementCtx) => {
    const problem = controls.test(value)
      ? 'Contains control characters'
      : directionControls.test(value)
        ? 'Contains hidden text-direction characters'
        : loneSurrogate.test(value)
          ? 'Contains characters that cannot be stored'
          : onlyInvisible.test(value)
            ? 'Required'
            : null;
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  };
}

/** One line of text a person typed: a name, a room. Trimmed, required, at most `max` characters. */
export function singleLineText(max: number) {
  return z.string().trim().min(1, 'Required').max(max, `Must be at most ${max} characters`).superRefine(refuseHiddenCharacters('single'));
}

/** Free text that may run over several lines (tabs and newlines allowed): notes, plans, reasons. */
export function freeText(max: number) {
  return z.string().trim().min(1, 'Required').max(max, `Must be at most ${max} characters`).superRefine(refuseHiddenCharacters('multi'));
}

export const nameSchema = singleLineText(100);

const OLDEST_BIRTH_DATE = '1900-01-01';

/** Today's date in UTC as YYYY-MM-DD. */
export function todayIso(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

/** A real calendar date in the past, written YYYY-MM-DD. */
export const dateOfBirthSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'Use the form YYYY-MM-DD')
  .refine((value) => {
    const parsed = new Date(`${value}T00:00:00Z`);
    return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === value;
  }, 'Not a real date')
  .refine((value) => value < todayIso(), 'Date of birth must be in the past')
  .refine((value) => value >= OLDEST_BIRTH_DATE, 'Date of birth is too far in the past');

export const uuidSchema = z.uuid();

/** Event ids travel as decimal strings: they are bigints in the database. */
export const eventIdSchema = z.string().regex(/^\d{1,18}$/, 'Not an event id');
