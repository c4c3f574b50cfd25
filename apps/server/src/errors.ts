import { INVALID_CREDENTIALS_MESSAGE, type AppErrorCode } from '@phos/shared';

const defaultMessages: Record<AppErrorCode, string> = {
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
  INTERNAL: 'Something went wrong',
};

/** The one error type domains throw; the tRPC layer maps its code once (see trpc/trpc.ts). */
export class AppError extends Error {
  readonly appCode: AppErrorCode;

  constructor(appCode: AppErrorCode, message: string = defaultMessages[appCode]) {
    super(message);
    this.name = 'AppError';
    this.appCode = appCode;
  }
}
