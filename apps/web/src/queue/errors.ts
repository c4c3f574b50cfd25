import { formErrorOf, isAppError } from '../trpc';

/**
 * The server's own words for a refused queue change: a stale version names who changed what, an
 * off-graph move names the move. Other failures fall back to the generic form message.
 */
export function queueErrorMessage(error: unknown): string | null {
  if (isAppError(error)) {
    const code = error.data?.code;
    if (code === 'CONFLICT' || code === 'UNPROCESSABLE_CONTENT' || code === 'NOT_FOUND') return error.message;
  }
  return formErrorOf(error);
}

/** A refusal that a fresh look at the row explains, as opposed to a problem with what was typed. */
export function isStaleOrRefused(error: unknown): boolean {
  if (!isAppError(error)) return false;
  const code = error.data?.code;
  return code === 'CONFLICT' || code === 'UNPROCESSABLE_CONTENT' || code === 'NOT_FOUND';
}
