import { fileURLToPath } from 'node:url';
import { MIN_PASSWORD_SCORE, passwordUserInputs, SCORED_PASSWORD_LENGTH, type PasswordOwner } from '@phos/shared';
import { Piscina } from 'piscina';
import { AppError } from '../errors.js';
import type { Score, ScoreTask } from './passwordScorerThread.js';

/** Phos runs from its TypeScript sources: the thread loads the scorer's .ts file (or its .js, if built). */
const scorerFile = fileURLToPath(
  new URL(`./passwordScorerThread${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url),
);

/** How long a check may wait for the scoring thread and run on it (~20–65 ms) before the caller is told to retry. */
export const PASSWORD_CHECK_TIMEOUT_MS = 10_000;
const PASSWORD_CHECK_BUSY = 'Passwords are slow to check right now; try again in a moment.';

let pool: Piscina<ScoreTask, Score> | undefined;

/**
 * The thread that scores passwords, started on first use: zxcvbn takes ~17 ms per password, and
 * up to ~400 ms for a long random one, which on the event loop would stall every other request.
 * One thread (~60 checks/s): it caps what scoring can take at one core, so a flood of registrations,
 * or of long passwords, queues here instead of taking the cores the event loop and argon2id need.
 */
export function passwordScorer(): Piscina<ScoreTask, Score> {
  if (pool) return pool;
  pool = new Piscina<ScoreTask, Score>({
    filename: scorerFile,
    minThreads: 1,
    maxThreads: 1,
    // The thread needs tsx to load a .ts file, which a Vitest worker does not run under; and not
    // every flag of the process's own is allowed in a thread (--input-type is not).
    ...(scorerFile.endsWith('.ts') ? { execArgv: ['--import', 'tsx'] } : {}),
  });
  // A thread that dies between checks is replaced; one that dies during a check fails that check.
  pool.on('error', () => undefined);
  return pool;
}

/** Lets the scoring thread go (waiting for checks in flight); the next check starts a new one. */
export async function closePasswordScorer(): Promise<void> {
  const closing = pool;
  pool = undefined;
  await closing?.close();
}

/**
 * Why a new password is too easy to guess for this person, in words for the form, or null when
 * it is strong enough. Length and blank passwords are `passwordSchema`'s job; this scores what
 * passes it against common and breached passwords and the person's own name, email and birth date.
 * Rejects with BUSY past `PASSWORD_CHECK_TIMEOUT_MS`, and (an internal error for the caller) if
 * the scoring thread dies meanwhile.
 */
export async function passwordWeakness(password: string, owner: PasswordOwner): Promise<string | null> {
  const task = { password: password.slice(0, SCORED_PASSWORD_LENGTH), userInputs: passwordUserInputs(owner) };
  const { score, warning } = await passwordScorer()
    .run(task, { signal: AbortSignal.timeout(PASSWORD_CHECK_TIMEOUT_MS) })
    .catch((error: unknown) => {
      // Waited too long for the thread (a backlog, or a thread that never came up): aborting
      // drops the task, or ends the thread it runs on, and the caller may try again.
      if (error instanceof Error && error.name === 'AbortError') throw new AppError('BUSY', PASSWORD_CHECK_BUSY);
      throw error;
    });
  if (score >= MIN_PASSWORD_SCORE) return null;
  return warning ? `Too easy to guess: add another word or two. ${warning}` : 'Too easy to guess: add another word or two.';
}
