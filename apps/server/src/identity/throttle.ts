import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../errors.js';

/** How hard sign-in and registration are throttled. Every api instance counts in the same Redis. */
export interface SignInLimits {
  /** The window failed sign-ins are counted in, from the first failure. */
  windowSeconds: number;
  /** Failed sign-ins one account may have in a window; then it is locked for the rest of it. */
  maxFailuresPerAccount: number;
  /** Failed sign-ins one client address may have in a window, across all accounts. */
  maxFailuresPerAddress: number;
  /** Failures an account may have before each next attempt must wait 1 s, 2 s, 4 s … */
  failuresBeforeDelay: number;
  /** The longest wait between two attempts on one account. */
  maxDelaySeconds: number;
  /** Registrations one client address may make in `registrationWindowSeconds`. */
  registrationsPerAddress: number;
  registrationWindowSeconds: number;
}

/** ASVS 2.2.1 with room for people who mistype; the e2e run raises the per-address ones. */
export const defaultSignInLimits: SignInLimits = {
  windowSeconds: 15 * 60,
  maxFailuresPerAccount: 10,
  maxFailuresPerAddress: 50,
  failuresBeforeDelay: 3,
  maxDelaySeconds: 60,
  registrationsPerAddress: 10,
  registrationWindowSeconds: 60 * 60,
};

/** Why an attempt was refused before its password was looked at. */
export type ThrottleReason = 'account-locked' | 'address-locked' | 'delayed' | 'throttle-unavailable';

export type LoginAttempt<T> =
  | { status: 'verified'; value: T }
  | { status: 'failed'; error: AppError; failures: number; lockedOut: boolean }
  | { status: 'throttled'; reason: ThrottleReason; retryAfterMs: number };

/** Who is trying: the email as typed (any case) and the client's address (null for in-process callers). */
export interface Attempter {
  email: string;
  ip: string | null;
}

export interface SignInGuard {
  /**
   * Runs one sign-in attempt under the limits. `verify` checks the password and throws an
   * AppError when it is wrong; it is not called at all while the account or address must wait.
   * Each attempt is counted before it is verified, so concurrent or batched guesses cannot
   * slip past the count; a verified one gives its count back.
   */
  attemptLogin<T>(attempter: Attempter, verify: () => Promise<T>): Promise<LoginAttempt<T>>;
  /** Counts a registration from this address; throws TOO_MANY_ATTEMPTS over the limit. */
  countRegistration(ip: string | null): Promise<void>;
}

/** How long the first attempt past the free failures holds the account while its password is checked. */
const VERIFY_CLAIM_SECONDS = 5;

function emailKey(email: string): string {
  // Keys carry a digest, not the address: Redis is no place for personal data.
  return createHash('sha256').update(email.trim().toLowerCase(), 'utf8').digest('hex');
}

/** 1 s after the `failuresBeforeDelay`-th failure, doubling with each further one, up to the cap. */
export function delaySecondsAfter(failures: number, limits: SignInLimits): number {
  if (failures < limits.failuresBeforeDelay) return 0;
  return Math.min(2 ** (failures - limits.failuresBeforeDelay), limits.maxDelaySeconds);
}

function waitInWords(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 120) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  return `${Math.ceil(seconds / 60)} minutes`;
}

/** The error a throttled attempt answers with: when to try again, and nothing about the account. */
export function throttledError(reason: ThrottleReason, retryAfterMs: number): AppError {
  if (reason === 'throttle-unavailable') {
    return new AppError('TOO_MANY_ATTEMPTS', 'Signing in is unavailable for a moment. Try again shortly.');
  }
  return new AppError('TOO_MANY_ATTEMPTS', `Too many attempts. Try again in ${waitInWords(retryAfterMs)}.`);
}

/** A limiter said no (a RateLimiterRes); anything else is Redis failing. */
function refusal(rejection: unknown): RateLimiterRes | null {
  return rejection instanceof RateLimiterRes ? rejection : null;
}

/**
 * Sign-in throttling on rate-limiter-flexible's Redis limiters (atomic Lua counters), shared by
 * every api instance. When Redis cannot answer it fails closed: no password is checked and no
 * account is created until the counts can be kept, as an outage must not open unlimited guessing.
 * `redis` should fail fast (a bounded command timeout), so a request never hangs on it.
 */
export function createSignInGuard(options: { redis: Redis; prefix: string; log: Logger; limits?: Partial<SignInLimits> }): SignInGuard {
  const limits: SignInLimits = { ...defaultSignInLimits, ...options.limits };
  const { redis, prefix, log } = options;
  const accountFailures = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:signin:account`,
    points: limits.maxFailuresPerAccount,
    duration: limits.windowSeconds,
  });
  const addressFailures = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:signin:address`,
    points: limits.maxFailuresPerAddress,
    duration: limits.windowSeconds,
  });
  // One point: set (blocked) after a failure for the delay, or claimed by the attempt being verified.
  const accountDelay = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:signin:delay`,
    points: 1,
    duration: VERIFY_CLAIM_SECONDS,
  });
  const registrations = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:register:address`,
    points: limits.registrationsPerAddress,
    duration: limits.registrationWindowSeconds,
  });

  /** Best effort after the fact: a lost give-back only makes the next attempt stricter. */
  async function settle(step: string, work: Promise<unknown>): Promise<void> {
    try {
      await work;
    } catch (error) {
      log.warn({ err: error, step }, 'sign-in throttle could not update a count');
    }
  }

  function unavailable(error: unknown): { status: 'throttled'; reason: ThrottleReason; retryAfterMs: number } {
    log.warn({ err: error }, 'sign-in throttle unavailable (Redis): refusing sign-in until it answers');
    return { status: 'throttled', reason: 'throttle-unavailable', retryAfterMs: 5_000 };
  }

  return {
    async attemptLogin<T>({ email, ip }: Attempter, verify: () => Promise<T>): Promise<LoginAttempt<T>> {
      const account = emailKey(email);
      const giveBack = async (counted: { address: boolean; account: boolean }) => {
        if (counted.address && ip !== null) await settle('address', addressFailures.reward(ip, 1));
        if (counted.account) await settle('account', accountFailures.reward(account, 1));
      };

      if (ip !== null) {
        try {
          await addressFailures.consume(ip);
        } catch (rejection) {
          const refused = refusal(rejection);
          return refused ? { status: 'throttled', reason: 'address-locked', retryAfterMs: refused.msBeforeNext } : unavailable(rejection);
        }
      }

      let attempt: number;
      try {
        attempt = (await accountFailures.consume(account)).consumedPoints;
      } catch (rejection) {
        await giveBack({ address: true, account: false });
        const refused = refusal(rejection);
        return refused ? { status: 'throttled', reason: 'account-locked', retryAfterMs: refused.msBeforeNext } : unavailable(rejection);
      }

      // Past the free failures, attempts take turns: the one that claims the delay key is
      // verified; the others (and any during the wait after a failure) are refused unchecked.
      const takesTurns = attempt - 1 >= limits.failuresBeforeDelay;
      if (takesTurns) {
        try {
          await accountDelay.consume(account);
        } catch (rejection) {
          await giveBack({ address: true, account: true });
          const refused = refusal(rejection);
          return refused ? { status: 'throttled', reason: 'delayed', retryAfterMs: refused.msBeforeNext } : unavailable(rejection);
        }
      }

      let value: T;
      try {
        value = await verify();
      } catch (error) {
        if (!(error instanceof AppError)) {
          // Not an answer about the password (the database failed): the attempt does not count.
          await giveBack({ address: true, account: true });
          if (takesTurns) await settle('delay', accountDelay.delete(account));
          throw error;
        }
        const delaySeconds = delaySecondsAfter(attempt, limits);
        if (delaySeconds > 0) await settle('delay', accountDelay.block(account, delaySeconds));
        return { status: 'failed', error, failures: attempt, lockedOut: attempt === limits.maxFailuresPerAccount };
      }

      // Signed in: the account starts afresh; the address keeps its other failures.
      await Promise.all([
        settle('account', accountFailures.delete(account)),
        settle('delay', accountDelay.delete(account)),
        ip === null ? Promise.resolve() : settle('address', addressFailures.reward(ip, 1)),
      ]);
      return { status: 'verified', value };
    },

    async countRegistration(ip) {
      if (ip === null) return;
      try {
        await registrations.consume(ip);
      } catch (rejection) {
        const refused = refusal(rejection);
        if (refused) throw throttledError('address-locked', refused.msBeforeNext);
        log.warn({ err: rejection }, 'registration throttle unavailable (Redis): refusing registrations until it answers');
        throw new AppError('TOO_MANY_ATTEMPTS', 'Registration is unavailable for a moment. Try again shortly.');
      }
    },
  };
}
