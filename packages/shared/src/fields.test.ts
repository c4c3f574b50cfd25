import { describe, expect, it } from 'vitest';
import { createUserInput } from './auth.js';
import { dateOfBirthSchema, emailSchema, freeText, nameSchema, singleLineText, todayIso } from './fields.js';
import { phoneSchema } from './patients.js';

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

/** The messages a value fails with, or [] when it passes. */
function problems(schema: { safeParse(value: unknown): { error?: { issues: { message: string }[] } } }, value: string) {
  return schema.safeParse(value).error?.issues.map((issue) => issue.message) ?? [];
}

describe('nameSchema and singleLineText', () => {
  it.each(['Ada', 'Mateo Álvarez', "O'Brien-Smith", 'محمد', 'نرگس\u200Cزاده', '李小龍'])('accepts the real name %s', (value) => {
    expect(problems(nameSchema, value)).toEqual([]);
  });

  it.each([
    ['a NUL byte', 'Ada\u0000', 'Contains control characters'],
    ['a newline', 'Ada\nLovelace', 'Contains control characters'],
    ['a tab', 'Ada\tLovelace', 'Contains control characters'],
    ['an escape sequence', 'Ada\u001B[31m', 'Contains control characters'],
    ['a C1 control', 'Ada\u0085', 'Contains control characters'],
    ['DEL', 'Ada\u007F', 'Contains control characters'],
    ['a right-to-left override', 'Ada\u202Eecalevol', 'Contains hidden text-direction characters'],
    ['a left-to-right embedding', '\u202AAda', 'Contains hidden text-direction characters'],
    ['a first-strong isolate', 'Ada\u2068x\u2069', 'Contains hidden text-direction characters'],
    ['a right-to-left mark', 'Ada\u200F', 'Contains hidden text-direction characters'],
    ['a lone surrogate', 'Ada\uD800', 'Contains characters that cannot be stored'],
    ['only a zero-width space', '\u200B', 'Required'],
    ['only zero-width joiners and word joiners', '\u200D\u2060\u200C', 'Required'],
    ['only a byte-order mark and spaces', ' \uFEFF ', 'Required'],
    ['only Hangul fillers', '\u3164\u3164', 'Required'],
    ['only a soft hyphen and a word joiner', '\u00AD\u2060', 'Required'],
  ])('refuses %s', (_what, value, message) => {
    expect(problems(nameSchema, value)).toContain(message);
  });

  it('applies the same rules at any length', () => {
    expect(problems(singleLineText(60), 'Room\u00001')).toContain('Contains control characters');
    expect(problems(singleLineText(5), 'Room 12')).toEqual(['Must be at most 5 characters']);
  });
});

describe('freeText', () => {
  const note = freeText(2000);

  it('keeps the lines and tabs of a multi-line note', () => {
    expect(note.parse('  Take 1 tablet.\n\tThen rest.  ')).toBe('Take 1 tablet.\n\tThen rest.');
  });

  it.each([
    ['a NUL byte', 'Rest\u0000', 'Contains control characters'],
    ['a carriage return', 'Rest\r\nwell', 'Contains control characters'],
    ['a vertical tab', 'Rest\u000Bwell', 'Contains control characters'],
    ['a bidi override', 'Rest \u202Ewell', 'Contains hidden text-direction characters'],
    ['a pop-directional isolate', 'Rest \u2069well', 'Contains hidden text-direction characters'],
    ['only invisible characters', '\u200B\n\u2060', 'Required'],
    ['only whitespace', ' \n\t ', 'Required'],
  ])('refuses %s', (_what, value, message) => {
    expect(problems(note, value)).toContain(message);
  });
});

describe('phoneSchema', () => {
  it('accepts spaces, dots, dashes and brackets but no other whitespace', () => {
    expect(problems(phoneSchema, '+44 (0)20 7946-0958')).toEqual([]);
    expect(problems(phoneSchema, '+44\n20\t7946\u00A00958')).toEqual(['Enter a phone number']);
  });
});
