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
