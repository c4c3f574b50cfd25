import { describe, expect, it } from 'vitest';
import { createUserInput } from './auth.js';
import { dateOfBirthSchema, emailSchema, todayIso } from './fields.js';

describe('dateOfBirthSchema', () => {
  it.each(['1990-01-31', '2000-02-29', '1900-01-01'])('accepts the real past date %s', (value) => {
    expect(dateOfBirthSchema.safeParse(value).success).toBe(true);
  });

  it.each([
    ['1990-02-29', 'Not a real date'],
    ['1990-13-01', 'Not a real date'],
    ['1990-1-1', 'Use the form YYYY-MM-DD'],
    ['31/01/1990', 'Use the form YYYY-MM-DD'],
    ['1899-12-31', 'Date of birth is too far in the past'],
  ])('refuses %s: %s', (value, message) => {
    const result = dateOfBirthSchema.safeParse(value);
    expect(result.error?.issues.map((issue) => issue.message)).toContain(message);
  });

  it('refuses today and the future', () => {
    const today = todayIso();
    expect(dateOfBirthSchema.safeParse(today).success).toBe(false);
    expect(dateOfBirthSchema.safeParse(todayIso(new Date(Date.now() - 86_400_000))).success).toBe(true);
  });
});

describe('emailSchema', () => {
  it('trims but keeps the case the person typed', () => {
    expect(emailSchema.parse('  Ann.Lee@Example.com ')).toBe('Ann.Lee@Example.com');
  });
});

describe('createUserInput', () => {
  const base = { email: 'a@example.com', password: 'long-enough-pw', firstName: 'A', lastName: 'B' };

  it('requires a date of birth for a Patient only', () => {
    const patient = createUserInput.safeParse({ ...base, role: 'Patient' });
    expect(patient.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['dateOfBirth']);
    expect(createUserInput.safeParse({ ...base, role: 'Provider' }).success).toBe(true);
  });
});
