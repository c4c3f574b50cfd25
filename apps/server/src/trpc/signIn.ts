import type { LoginInput, User } from '@phos/shared';
import { recordAudit } from '../audit/audit.js';
import { throttledError, type LoginAttempt } from '../identity/throttle.js';
import { authenticate } from '../identity/users.js';
import { auditActorOf, type Context } from './context.js';

/** The `detail.reason` of an `auth.login` audit row. */
type LoginReason =
  | 'signed-in'
  | 'invalid-credentials'
  | 'locked-out'
  | 'account-disabled'
  | 'account-locked'
  | 'address-locked'
  | 'delayed'
  | 'throttle-unavailable';

function reasonOf(attempt: LoginAttempt<User>): LoginReason {
  switch (attempt.status) {
    case 'verified':
      return 'signed-in';
    case 'failed':
      if (attempt.lockedOut) return 'locked-out';
      return attempt.error.appCode === 'ACCOUNT_DISABLED' ? 'account-disabled' : 'invalid-credentials';
    case 'throttled':
      return attempt.reason;
  }
}

/**
 * One row per attempt: success, failure (the failure that reaches the cap says `locked-out`), and
 * attempts refused unchecked while throttled. The email as typed, never the password; a failed
 * attempt has no user, a successful one is the user's own.
 */
async function recordLoginAttempt(ctx: Context, email: string, attempt: LoginAttempt<User>): Promise<void> {
  const actor =
    attempt.status === 'verified' ? { ...auditActorOf(ctx), userId: attempt.value.id, role: attempt.value.role } : auditActorOf(ctx);
  const detail: Record<string, string | number> = { email, reason: reasonOf(attempt) };
  if (attempt.status === 'failed') detail.failures = attempt.failures;
  if (attempt.status === 'throttled') detail.retryAfterSeconds = Math.ceil(attempt.retryAfterMs / 1000);
  await recordAudit(ctx.db, actor, { action: 'auth.login', outcome: attempt.status === 'verified' ? 'allowed' : 'refused', detail });
}

/** Logs ids and reasons only: an email is personal data, and the audit trail already has it. */
function logLoginAttempt(ctx: Context, attempt: LoginAttempt<User>): void {
  const reason = reasonOf(attempt);
  if (attempt.status === 'verified') ctx.log.info({ userId: attempt.value.id }, 'signed in');
  else if (attempt.status === 'failed')
    ctx.log.warn(
      { reason, failures: attempt.failures },
      attempt.lockedOut ? 'account locked after repeated failed sign-ins' : 'sign-in failed',
    );
  else ctx.log.warn({ reason, retryAfterMs: attempt.retryAfterMs }, 'sign-in refused unchecked while throttled');
}

/**
 * Checks a sign-in under the per-account and per-address limits, records it, and answers the
 * user, or throws: INVALID_CREDENTIALS / ACCOUNT_DISABLED as `authenticate` said, or
 * TOO_MANY_ATTEMPTS with when to try again.
 */
export async function checkSignIn(ctx: Context, input: LoginInput): Promise<User> {
  const attempt = await ctx.services.signIn.attemptLogin({ email: input.email, ip: ctx.ip }, () =>
    authenticate(ctx.db, input.email, input.password),
  );
  logLoginAttempt(ctx, attempt);
  await recordLoginAttempt(ctx, input.email, attempt);
  switch (attempt.status) {
    case 'verified':
      return attempt.value;
    case 'failed':
      throw attempt.error;
    case 'throttled':
      throw throttledError(attempt.reason, attempt.retryAfterMs);
  }
}
