/**
 * The lowest zxcvbn score (0 to 4) a new password may have. 3 means about 10^8 guesses or more:
 * "safely unguessable" for an online attacker, who is throttled on top of that.
 */
export const MIN_PASSWORD_SCORE = 3;

/**
 * Only this many leading characters are scored: zxcvbn's time grows steeply with length (a
 * random 256-character string takes seconds), and a password whose start is strong is strong.
 */
export const SCORED_PASSWORD_LENGTH = 32;

export interface PasswordOwner {
  email?: string | undefined;
  firstName?: string | undefined;
  lastName?: string | undefined;
  dateOfBirth?: string | undefined;
}

/**
 * What a guesser knows about the person, as zxcvbn's `userInputs`: the name and email the ways
 * people fold them into passwords (ada.lovelace, adalovelace, lovelace_ada) and the birth date.
 * The server's check and the web form's meter both use this list, so they agree on the score.
 */
export function passwordUserInputs(owner: PasswordOwner): string[] {
  const first = owner.firstName?.trim().toLowerCase() ?? '';
  const last = owner.lastName?.trim().toLowerCase() ?? '';
  const email = owner.email?.trim().toLowerCase() ?? '';
  const localPart = email.split('@')[0] ?? '';
  // zxcvbn ranks user inputs by position: the likeliest guesses go first.
  const inputs: string[] = [];
  if (first && last) {
    for (const separator of ['', '.', ' ', '-', '_']) inputs.push(`${first}${separator}${last}`, `${last}${separator}${first}`);
  }
  inputs.push(first, last);
  if (owner.dateOfBirth) {
    const [year = '', month = '', day = ''] = owner.dateOfBirth.split('-');
    inputs.push(year, owner.dateOfBirth, `${year}${month}${day}`, `${day}${month}${year}`, `${month}${day}${year}`);
  }
  inputs.push(localPart, email, ...localPart.split(/[._+-]+/u));
  return [...new Set(inputs.filter((input) => input.length >= 2))];
}
