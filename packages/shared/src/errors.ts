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
  /**
   * The database could not be reached, or the connection was lost mid-call: try again shortly.
   * A write whose connection was lost may or may not have committed; retrying it is safe (a
   * registration is idempotent, a staff move carries its version).
   */
  UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  /** A failed registration job was retried or discarded by someone else, or succeeded meanwhile. */
  NOT_FAILED: 'CONFLICT',
  /** Anything unexpected: the caller is told only the request id. */
  INTERNAL: 'INTERNAL_SERVER_ERROR',
} as const;
export type AppErrorCode = keyof typeof appErrorCodes;

export const INVALID_CREDENTIALS_MESSAGE = 'Email or password is incorrect';

/**
 * The words a person sees for each code, in one place: the server uses them as each error's
 * default message, and the web shows them whenever it has no more specific message of the server's.
 */
export const appErrorMessages: Record<AppErrorCode, string> = {
  INVALID_INPUT: 'Invalid input',
  EMAIL_TAKEN: 'An account with this email already exists',
  NAME_TAKEN: 'That name is already in use',
  ALREADY_QUEUED: 'This patient is already in the queue',
  INVALID_CREDENTIALS: INVALID_CREDENTIALS_MESSAGE,
  NOT_SIGNED_IN: 'Sign in to continue',
  FORBIDDEN: 'You do not have access to this',
  NOT_FOUND: 'Not found',
  STALE_VERSION: 'This was changed by someone else; showing the latest',
  INVALID_TRANSITION: 'That move is not allowed',
  TOO_MANY_ATTEMPTS: 'Too many attempts. Wait a moment and try again.',
  ACCOUNT_DISABLED: 'This account is disabled. Ask an administrator to re-enable it.',
  SESSION_ENDED: 'Your session has ended. Sign in again.',
  TOO_MANY_STREAMS: 'Too many live views are open in this session. Close some tabs and try again.',
  IDENTITY_NOT_VERIFIED: "Confirm this person's identity before queuing them on this record",
  OWN_DRAFT: 'A care plan is approved by a Provider other than the one who drafted it',
  WRONG_PASSWORD: 'Your current password is incorrect',
  SERVER_RESTARTING: 'This server is restarting. Reconnecting…',
  BUSY: "The clinic's records are busy; try again",
  UNAVAILABLE: "The clinic's records can't be reached right now. Try again in a moment.",
  NOT_FAILED: 'This registration is no longer failed: someone retried or discarded it',
  INTERNAL: 'Something went wrong',
};
