import { Writable } from 'node:stream';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { errorSerializer } from '../src/logging.js';

function logLine(error: Error): string {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out += chunk.toString();
      done();
    },
  });
  pino({ serializers: { err: errorSerializer } }, sink).error({ err: error }, 'job failed');
  return out;
}

describe('error logging', () => {
  it('keeps the values of a failed query out of the log line', () => {
    const cause = Object.assign(new Error('duplicate key value violates unique constraint "users_email_lower_key"'), {
      code: '23505',
      detail: 'Key (lower(email))=(grace.hopper@example.com) already exists.',
    });
    const error = new DrizzleQueryError(
      'insert into "patients" ("first_name", "date_of_birth") values ($1, $2)',
      ['Grace', '1906-12-09'],
      cause,
    );
    const line = logLine(error);
    expect(line).toContain('Failed query: insert into');
    expect(line).toContain('23505');
    for (const secret of ['Grace', '1906-12-09', 'grace.hopper@example.com']) expect(line).not.toContain(secret);
  });

  it('keeps the values out when PostgreSQL reports them itself, or quotes one in its message', () => {
    const raw = Object.assign(new Error('invalid input syntax for type date: "1906-13-09"'), {
      severity: 'ERROR',
      code: '22007',
      detail: 'Key (email)=(grace.hopper@example.com) already exists.',
      table: 'patients',
    });
    const wrapped = new DrizzleQueryError('insert into "patients" ("date_of_birth") values ($1)', ['1906-13-09'], raw);
    for (const line of [logLine(raw), logLine(wrapped)]) {
      expect(line).toContain('22007');
      expect(line).toContain('patients');
      for (const secret of ['1906-13-09', 'grace.hopper@example.com']) expect(line).not.toContain(secret);
    }
  });

  it('keeps ordinary errors as they are', () => {
    expect(logLine(new Error('registration 42 is not in the outbox'))).toContain('registration 42 is not in the outbox');
  });
});
