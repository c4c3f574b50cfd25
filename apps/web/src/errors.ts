import { appErrorMessages, type AppErrorCode } from '@phos/shared';
import type { AppRouter } from '@phos/server/router';
import { TRPCClientError } from '@trpc/client';

/** An error the API answered with; the server's own `AppError` class is what it was thrown as. */
export type ApiError = TRPCClientError<AppRouter>;

export function isApiError(error: unknown): error is ApiError {
  return error instanceof TRPCClientError;
}

/** The documented code the server attached, or null for a network failure or a bare transport error. */
export function appCodeOf(error: unknown): AppErrorCode | null {
  return isApiError(error) ? (error.data?.appCode ?? null) : null;
}

/** Codes that answer for one field of a form rather than for the whole form; the form names the field. */
export type FieldCodes = Partial<Record<AppErrorCode, string>>;

/**
 * Messages for each field of a form: the server's zod messages, plus the message of an appCode
 * that belongs to a field (EMAIL_TAKEN to the email, say), keyed by field name.
 */
export function fieldErrorsOf(error: unknown, fieldCodes: FieldCodes = {}): Record<string, string> {
  if (!isApiError(error)) return {};
  const out: Record<string, string> = {};
  const fieldErrors: Partial<Record<string, string[] | undefined>> = error.data?.zodError?.fieldErrors ?? {};
  for (const [field, messages] of Object.entries(fieldErrors)) {
    const first = messages?.[0];
    if (first !== undefined) out[field] = first;
  }
  const code = appCodeOf(error);
  const field = code ? fieldCodes[code] : undefined;
  if (code && field) out[field] = wordingOf(error, code);
  return out;
}

/**
 * A message for an alert above a form or a section, or null when the error is fully explained by
 * field messages (pass the form's field codes so those are not said twice). Decided on the appCode:
 * the transport code alone says too little (a taken room name and a taken email are both CONFLICT).
 */
export function errorMessage(error: unknown, fieldCodes: FieldCodes = {}): string | null {
  if (!error) return null;
  if (!isApiError(error)) return somethingWentWrong(null);
  const data = error.data;
  if (data?.zodError) {
    const formErrors = data.zodError.formErrors;
    return formErrors.length > 0 ? formErrors.join(' ') : null;
  }
  const code = data?.appCode ?? null;
  if (code === null || code === 'INTERNAL') return somethingWentWrong(data?.requestId ?? null);
  if (fieldCodes[code]) return null;
  return wordingOf(error, code);
}

/**
 * The server's message for a code defaults to the shared wording; where it says more (who changed
 * the row, when to try again, which room) its own sentence is the better one.
 */
function wordingOf(error: ApiError, code: AppErrorCode): string {
  return error.message.trim() !== '' ? error.message : appErrorMessages[code];
}

/** The request id lets support find the server's log line; the client is told nothing else. */
function somethingWentWrong(requestId: string | null): string {
  const generic = 'Something went wrong. Please try again.';
  return requestId ? `${generic} Quote this reference if you contact support: ${requestId}.` : generic;
}
