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
  /** Too many failed sign-ins or registrations: wait and try again. */
  TOO_MANY_ATTEMPTS: 'TOO_MANY_REQUESTS',
  /** The right password for an account an Admin has disabled. */
  ACCOUNT_DISABLED: 'FORBIDDEN',
  /** The session expired, was signed out, or its account was disabled or changed role. */
  SESSION_ENDED: 'UNAUTHORIZED',
  /** This session already has as many live streams open as it may. */
  TOO_MANY_STREAMS: 'TOO_MANY_REQUESTS',
  /** Staff must confirm the person's identity at the desk first. */
  IDENTITY_NOT_VERIFIED: 'PRECONDITION_FAILED',
  /** A care plan is approved by a Provider other than the one who drafted it. */
  OWN_DRAFT: 'FORBIDDEN',
  /** The current password given to change it is wrong. */
  WRONG_PASSWORD: 'BAD_REQUEST',
  /** This api instance is shutting down: reconnect (another instance answers) and resume. */
  SERVER_RESTARTING: 'SERVICE_UNAVAILABLE',
  /** The records were busy (a timeout or lock wait ran out): nothing was changed; try again. */
  BUSY: 'SERVICE_UNAVAILABLE',
  /** Anything unexpected: the caller is told only the request id. */
  INTERNAL: 'INTERNAL_SERVER_ERROR',
} as const;
export type AppErrorCode = keyof typeof appErrorCodes;

export const INVALID_CREDENTIALS_MESSAGE = 'Email or password is incorrect';
