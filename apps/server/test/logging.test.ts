import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createErrorReporter, errorSerializer, wantsPrettyLogs } from '../src/logging.js';

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

/** A logger whose lines land in `lines`, parsed. */
function capturingLogger(level: pino.Level = 'info') {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level, serializers: { err: errorSerializer } }, sink), lines };
}

function connectionError(code: string): Error {
  return Object.assign(new Error(`connect ${code} /tmp/redis.sock`), { code });
}

describe('background errors', () => {
  it('logs the first error of each kind at once, then at most one line per kind per interval, saying how many came', async () => {
    const { log, lines } = capturingLogger();
    const errors = createErrorReporter(log, 200);
    const [producer, subscriber] = [new EventEmitter(), new EventEmitter()];
    const worker = new EventEmitter();
    errors.watchConnection(producer, 'producer connection');
    errors.watchConnection(subscriber, 'events subscriber');
    errors.watch(worker, 'registration worker');

    // An outage: every connection retries many times over.
    for (let attempt = 0; attempt < 50; attempt++) {
      producer.emit('error', connectionError('ECONNREFUSED'));
      subscriber.emit('error', connectionError('ECONNREFUSED'));
    }
    worker.emit('error', new Error('Connection is closed.'));
    expect(lines.map((line) => [line.msg, line.code])).toEqual([
      ['producer connection: connect ECONNREFUSED /tmp/redis.sock', 'ECONNREFUSED'],
      ['registration worker: Connection is closed.', 'Error'],
    ]);

    await delay(250);
    subscriber.emit('error', connectionError('ECONNREFUSED'));
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatchObject({ source: 'events subscriber', code: 'ECONNREFUSED', more: 99 });
    expect(new Set(lines[2]!.from as string[])).toEqual(new Set(['producer connection', 'events subscriber']));

    // Back: one line, once the last connection that failed is ready again.
    producer.emit('ready');
    expect(lines).toHaveLength(3);
    subscriber.emit('ready');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatchObject({ msg: 'every Redis connection that failed is ready again', errors: 101 });
    subscriber.emit('ready');
    expect(lines).toHaveLength(4);

    // The next outage is reported at once again.
    producer.emit('error', connectionError('ECONNREFUSED'));
    expect(lines).toHaveLength(5);
  });
});

/** Runs an ES module script in a Node process of its own, from the server's directory, stdout piped. */
function runScript(script: string, env: Record<string, string> = {}): Promise<{ out: string; code: number | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ out, code })));
}

function jsonLines(out: string): Record<string, unknown>[] {
  return out
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('log format', () => {
  const script = (pretty: boolean) => `
    import { createLogger } from './src/logging.ts';
    createLogger({ level: 'info' }, ${pretty}).info({ registrationId: 'r-1' }, 'registration job done');
  `;

  it('prints readable lines when pretty, through pino-pretty', { timeout: 60_000 }, async () => {
    const { out: coloured, code } = await runScript(script(true));
    const out = stripVTControlCharacters(coloured);
    expect(code).toBe(0);
    expect(out).toMatch(/INFO.*registration job done/);
    expect(out).toMatch(/registrationId: "r-1"/);
    expect(jsonLines(out)).toEqual([]);
  });

  it('prints JSON otherwise', { timeout: 60_000 }, async () => {
    const { out, code } = await runScript(script(false));
    expect(code).toBe(0);
    expect(jsonLines(out)).toMatchObject([{ level: 30, msg: 'registration job done', registrationId: 'r-1' }]);
  });

  it('is pretty on auto only at a terminal outside CI: a pipe, CI or a container stays JSON', () => {
    expect(wantsPrettyLogs('auto', { terminal: true, ci: false })).toBe(true);
    expect(wantsPrettyLogs('auto', { terminal: true, ci: true })).toBe(false);
    expect(wantsPrettyLogs('auto', { terminal: false, ci: false })).toBe(false);
    expect(wantsPrettyLogs('pretty', { terminal: false, ci: true })).toBe(true);
    expect(wantsPrettyLogs('json', { terminal: true, ci: false })).toBe(false);
  });
});

describe('unhandled rejections and uncaught exceptions', () => {
  /** Runs `body` in a Node process that has called `logUnhandled`; its log lines, parsed. */
  async function runInProcess(body: string): Promise<{ lines: Record<string, unknown>[]; code: number | null }> {
    const { out, code } = await runScript(`
      import pino from 'pino';
      import { logUnhandled, workScope } from './src/logging.ts';
      const log = pino();
      logUnhandled(log, () => { log.info('fatal handler ran'); process.exit(3); });
      ${body}
    `);
    return { code, lines: jsonLines(out) };
  }

  it('logs a rejection nobody handled with the request it happened in, and the process goes on', { timeout: 60_000 }, async () => {
    const { lines, code } = await runInProcess(`
      workScope.run({ requestId: 'req-unhandled-1' }, () => {
        setTimeout(() => void Promise.reject(new Error('nobody awaited this')), 10);
      });
      setTimeout(() => { log.info('still running'); process.exit(0); }, 300);
    `);
    expect(code).toBe(0);
    expect(lines.map((line) => line.msg)).toEqual(['unhandled promise rejection', 'still running']);
    expect(lines[0]).toMatchObject({ level: 50, requestId: 'req-unhandled-1', err: { message: 'nobody awaited this' } });
  });

  it('logs an uncaught exception with the job it happened in, then runs the fatal handler', { timeout: 60_000 }, async () => {
    const { lines, code } = await runInProcess(`
      workScope.run({ requestId: 'req-job-7', jobId: 'job-7' }, () => {
        setTimeout(() => { throw new Error('thrown from a timer'); }, 10);
      });
    `);
    expect(code).toBe(3);
    // pino may write the fatal line after the handler's (its two writes are not ordered on a busy machine).
    expect(lines.map((line) => line.msg).sort()).toEqual(['fatal handler ran', 'uncaught exception; shutting down']);
    expect(lines.find((line) => line.level === 60)).toMatchObject({
      msg: 'uncaught exception; shutting down',
      requestId: 'req-job-7',
      jobId: 'job-7',
      err: { message: 'thrown from a timer' },
    });
  });
});
