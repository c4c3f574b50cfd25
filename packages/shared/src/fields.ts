import { z } from 'zod';

export const emailSchema = z
  .string()
  .trim()
  .max(254, 'Email is too long')
  .pipe(z.email('Enter a valid email address'));

export const passwordSchema = z
  .string()
  .min(12, 'Password must be at least 12 characters')
  .max(256, 'Password must be at most 256 characters');

export const nameSchema = z
  .string()
  .trim()
  .min(1, 'Required')
  .max(100, 'Must be at most 100 characters');

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
