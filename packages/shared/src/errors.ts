/**
 * Error codes the API documents. Each maps to one tRPC code on the server; clients switch on
 * `error.data.appCode` when they need more than the tRPC code.
 */
export const appErrorCodes = {
  INVALID_INPUT: 'BAD_REQUEST',
  EMAIL_TAKEN: 'CONFLICT',
  NAME_TAKEN: 'CONFLICT',
  ALREADY_QUEUED: 'CONFLICT',
  INVALID_CREDENTIALS: 'UNAUTHORIZED',
  NOT_SIGNED_IN: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  /** Someone else changed the record since the caller read it. */
  STALE_VERSION: 'CONFLICT',
  /** The queue's transition graph does not allow the move. */
  INVALID_TRANSITION: 'UNPROCESSABLE_CONTENT',
} as const;
export type AppErrorCode = keyof typeof appErrorCodes;

export const INVALID_CREDENTIALS_MESSAGE = 'Email or password is incorrect';
