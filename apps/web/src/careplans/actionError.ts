import { formErrorOf, isAppError } from '../trpc';

/**
 * A message for a failed care plan action. The server explains conflicts and refusals in words
 * ("This plan is no longer awaiting approval", four eyes), which the generic form message would hide.
 */
export function actionErrorOf(error: unknown): string | null {
  if (!error) return null;
  const code = isAppError(error) ? error.data?.code : undefined;
  if (isAppError(error) && (code === 'CONFLICT' || code === 'UNPROCESSABLE_CONTENT' || code === 'NOT_FOUND' || code === 'FORBIDDEN')) {
    return error.message;
  }
  return formErrorOf(error);
}
