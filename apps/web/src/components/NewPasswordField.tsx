import { MIN_PASSWORD_SCORE, passwordUserInputs, type PasswordOwner } from '@phos/shared';
import { Group, Progress, Stack, Text, type PasswordInputProps } from '@mantine/core';
import { useEffect, useState } from 'react';
import { loadPasswordScorer } from './passwordStrength';
import { PasswordField } from './PasswordField';

const MIN_PASSWORD_LENGTH = 12;
const passwordRule = `At least ${MIN_PASSWORD_LENGTH} characters, not a common password`;

const strengthWords = ['Too weak', 'Weak', 'Fair', 'Strong', 'Very strong'] as const;
const strengthColors = ['red', 'orange', 'yellow', 'teal', 'green'] as const;

interface Strength {
  score: 0 | 1 | 2 | 3 | 4;
  /** zxcvbn's warning, then its suggestions. */
  advice: string[];
}

interface NewPasswordFieldProps extends Omit<PasswordInputProps, 'value' | 'description'> {
  value?: string;
  /** Whose password it is: one built from their name, email or birth date is weak, as the server also finds. */
  owner?: PasswordOwner;
}

/** A field that sets a password: the rule before typing, then zxcvbn's strength and advice as the person types. */
export function NewPasswordField({ value = '', owner = {}, ...props }: NewPasswordFieldProps) {
  const strength = usePasswordStrength(value, passwordUserInputs(owner));
  return (
    <Stack gap={6}>
      <PasswordField {...props} value={value} description={passwordRule} autoComplete="new-password" />
      <div aria-live="polite">{value !== '' && strength ? <StrengthMeter strength={strength} length={value.length} /> : null}</div>
    </Stack>
  );
}

function StrengthMeter({ strength, length }: { strength: Strength; length: number }) {
  const short = length < MIN_PASSWORD_LENGTH;
  const score = short ? 0 : strength.score;
  // Below the server's bar the password will be refused: say so in the server's words.
  const advice = short
    ? [`Use at least ${MIN_PASSWORD_LENGTH} characters (${MIN_PASSWORD_LENGTH - length} more).`]
    : score < MIN_PASSWORD_SCORE
      ? ['Too easy to guess: add another word or two.', ...strength.advice]
      : strength.advice;
  return (
    <Stack gap={4}>
      <Group gap="xs" wrap="nowrap">
        <Progress value={(score + 1) * 20} color={strengthColors[score]} size="sm" style={{ flex: 1 }} aria-hidden />
        <Text size="xs" fw={600} c={`${strengthColors[score]}.9`} miw={72} ta="right" data-testid="password-strength">
          {strengthWords[score]}
        </Text>
      </Group>
      {advice.map((line) => (
        <Text key={line} size="xs" c="dimmed">
          {line}
        </Text>
      ))}
    </Stack>
  );
}

function usePasswordStrength(password: string, userInputs: readonly string[]): Strength | null {
  const [strength, setStrength] = useState<Strength | null>(null);
  const inputsKey = userInputs.join('\n');
  useEffect(() => {
    if (password === '') return;
    let current = true;
    loadPasswordScorer()
      .then((score) => {
        if (!current) return;
        const result = score(password, inputsKey === '' ? [] : inputsKey.split('\n'));
        const { warning, suggestions } = result.feedback;
        setStrength({ score: result.score, advice: [warning, ...suggestions].filter((line): line is string => !!line) });
      })
      .catch(() => {
        // No meter without the dictionaries; the server still checks the password.
      });
    return () => {
      current = false;
    };
  }, [password, inputsKey]);
  return strength;
}
