import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as zxcvbnCommon from '@zxcvbn-ts/language-common';
import * as zxcvbnEn from '@zxcvbn-ts/language-en';

export interface ScoreTask {
  password: string;
  userInputs: string[];
}

export interface Score {
  score: number;
  warning: string | null;
}

/**
 * zxcvbn-ts with its common-password, breached-password and English dictionaries: an offline
 * scorer, so no password leaves the server to be checked. Built on the thread's first task (the
 * dictionaries take a few hundred milliseconds to load) and read-only after that.
 */
let scorer: ZxcvbnFactory | undefined;

/** Runs in the password-scoring thread (see `passwordWeakness`), never on the event loop. */
export default function scorePassword({ password, userInputs }: ScoreTask): Score {
  scorer ??= new ZxcvbnFactory({
    translations: zxcvbnEn.translations,
    graphs: zxcvbnCommon.adjacencyGraphs,
    dictionary: { ...zxcvbnCommon.dictionary, ...zxcvbnEn.dictionary },
    // The l33t matcher tries every mix of substitutions it can; for a random password full of
    // digits (hex, say) that is 150–250 ms at the default of 100. At 30 it is 20–65 ms, and common
    // l33t passwords (p4ssw0rd, m0nk3y123, l3tm31n!) score exactly as they did.
    l33tMaxSubstitutions: 30,
  });
  const result = scorer.check(password, userInputs);
  return { score: result.score, warning: result.feedback.warning || null };
}
