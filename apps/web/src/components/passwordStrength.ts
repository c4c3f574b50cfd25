import type { ZxcvbnResult } from '@zxcvbn-ts/core';

export type PasswordScorer = (password: string, userInputs: readonly string[]) => ZxcvbnResult;

let loading: Promise<PasswordScorer> | null = null;

/**
 * zxcvbn with the common and English dictionaries, the scorer the server checks with. The
 * dictionaries are large, so they load on the first keystroke in a new-password field, not with
 * the sign-in page.
 */
export function loadPasswordScorer(): Promise<PasswordScorer> {
  loading ??= Promise.all([import('@zxcvbn-ts/core'), import('@zxcvbn-ts/language-common'), import('@zxcvbn-ts/language-en')]).then(
    ([core, common, english]) => {
      const zxcvbn = new core.ZxcvbnFactory({
        dictionary: { ...common.dictionary, ...english.dictionary },
        graphs: common.adjacencyGraphs,
        translations: english.translations,
      });
      return (password, userInputs) => zxcvbn.check(password, [...userInputs]);
    },
  );
  // A failed download (offline for a moment) is tried again on the next keystroke.
  loading.catch(() => {
    loading = null;
  });
  return loading;
}
