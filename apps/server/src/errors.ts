import { appErrorMessages, type AppErrorCode } from '@phos/shared';

/** The one error type domains throw; the tRPC layer maps its code once (see trpc/trpc.ts). */
export class AppError extends Error {
  readonly appCode: AppErrorCode;

  constructor(appCode: AppErrorCode, message: string = appErrorMessages[appCode]) {
    super(message);
    this.name = 'AppError';
    this.appCode = appCode;
  }
}
