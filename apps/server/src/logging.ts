import { AsyncLocalStorage } from 'node:async_hooks';
import pino, { type Logger, type LoggerOptions } from 'pino';

/** A failed query as drizzle reports it: the message and stack spell out its parameters. */
interface QueryError extends Error {
  query: string;
  params: unknown[];
}

function isQueryError(error: Error): error is QueryError {
  return 'query' in error && 'params' in error;
}

/** The "    at …" lines of a stack, without the message that heads it. */
function frames(stack: string | undefined): string {
  const start = stack?.indexOf('\n    at ') ?? -1;
  return stack && start >= 0 ? stack.slice(start) : '';
}

/**
 * Serialises errors without the values a failed query carried (its parameters, PostgreSQL's
 * `Key (email)=(…)` detail, and messages that quote a value), so patient data and credentials
 * never reach a log line that way.
 */
export function errorSerializer(error: Error): object {
  // pino's own serialiser copies every field, PostgreSQL's `detail` with it.
  if (isDatabaseError(error)) {
    const message = redactedErrorText(error);
    return { type: error.name, message, stack: `${error.name}: ${message}${frames(error.stack)}`, code: error.code };
  }
  if (!isQueryError(error)) return pino.stdSerializers.err(error);
  const cause = error.cause instanceof Error ? error.cause : undefined;
  const message = redactedErrorText(error);
  return {
    type: error.name,
    message,
    stack: `${error.name}: ${message}${frames(error.stack)}${cause ? `\ncaused by: ${cause.name}${frames(cause.stack)}` : ''}`,
    query: error.query,
    code: (cause as { code?: unknown } | undefined)?.code,
  };
}

/** An error PostgreSQL sent: its message or detail can quote the values (`Key (email)=(…)`, 22P02). */
interface DatabaseError extends Error {
  code: string;
  severity: string;
  table?: string;
  column?: string;
  constraint?: string;
}

function isDatabaseError(error: unknown): error is DatabaseError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string' && 'severity' in error;
}

/** SQLSTATE and the schema names involved, which are safe to store anywhere. */
function describeDatabaseError(error: DatabaseError): string {
  const names = [error.table, error.column, error.constraint].filter((name) => typeof name === 'string' && name !== '');
  return `SQLSTATE ${error.code}${names.length > 0 ? ` (${names.join(', ')})` : ''}`;
}

/** The error code worth alerting on: SQLSTATE, a system error code, or the error's name. */
export function errorCode(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const cause = isQueryError(error) ? error.cause : error;
  if (isDatabaseError(cause)) return cause.code;
  const { code } = error as { code?: unknown };
  return typeof code === 'string' ? code : error.name;
}

/**
 * An error's text with nothing a patient typed in it: a failed query becomes its SQL text (params
 * are placeholders there) and SQLSTATE, a PostgreSQL error its SQLSTATE, a validation error its
 * field paths. Other errors keep their message: ours carry ids only, by rule.
 */
export function redactedErrorText(error: unknown): string {
  if (!(error instanceof Error)) return `non-error thrown (${typeof error})`;
  if (isQueryError(error)) {
    const cause = error.cause;
    const why = isDatabaseError(cause) ? describeDatabaseError(cause) : cause instanceof Error ? redactedErrorText(cause) : '';
    return `Failed query: ${error.query}${why ? `: ${why}` : ''}`;
  }
  if (isDatabaseError(error)) return `database error: ${describeDatabaseError(error)}`;
  const { issues } = error as { issues?: unknown };
  if (error.name === 'ZodError' && Array.isArray(issues)) {
    const fields = issues.map(
      (issue: { path?: unknown[]; code?: unknown }) => `${(issue.path ?? []).join('.') || '(root)'} ${String(issue.code)}`,
    );
    return `invalid data: ${fields.join(', ')}`;
  }
  return error.message;
}

/**
 * The same error, safe to hand to a store that keeps error text (BullMQ's `failedReason` and
 * `stacktrace`): the redacted text and the original stack frames, none of the values.
 * The class is kept where it decides behaviour (BullMQ does not retry an UnrecoverableError).
 */
export function redactedError<E extends Error>(error: unknown, make: (message: string) => E): E {
  const safe = make(redactedErrorText(error));
  const original = error instanceof Error ? error : undefined;
  const cause = original && isQueryError(original) && original.cause instanceof Error ? original.cause : undefined;
  safe.stack = `${safe.name}: ${safe.message}${frames(original?.stack)}${cause ? `\ncaused by: ${cause.name}${frames(cause.stack)}` : ''}`;
  return safe;
}

/** Readable lines for a person at a terminal; JSON for machines (CI, containers, log shippers). */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** Whether to print readable lines: `auto` means when stdout is a terminal and this is not a CI run. */
export function wantsPrettyLogs(format: LogFormat, where: { terminal: boolean; ci: boolean }): boolean {
  if (format !== 'auto') return format === 'pretty';
  return where.terminal && !where.ci;
}

/**
 * A request as its log lines show it: method, path and the client's address. Never the query
 * string: a FHIR search by GET carries names and dates of birth there.
 */
export function requestSerializer(request: { method?: string; url?: string; host?: string; ip?: string }) {
  return { method: request.method, url: request.url?.split('?', 1)[0], host: request.host, remoteAddress: request.ip };
}

export function createLogger(options: LoggerOptions, pretty = false): Logger {
  const serializers = { err: errorSerializer, error: errorSerializer, req: requestSerializer };
  if (!pretty) return pino({ ...options, serializers });
  // pino-pretty runs in pino's transport thread, off the event loop.
  const readable = { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' };
  return pino({ ...options, serializers, transport: { target: 'pino-pretty', options: readable } });
}

/** Anything that emits 'error': a Redis connection, a BullMQ Queue or Worker. */
export interface ErrorSource {
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** A Redis connection: it says when it is usable again. */
export interface RecoveringSource {
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}

export interface ErrorReporter {
  /** Logs `source`'s errors, named `name`. */
  watch(source: ErrorSource, name: string): void;
  /** The same for a Redis connection, whose recovery is noted too. */
  watchConnection(source: RecoveringSource, name: string): void;
  /** Logs the failure of a pass that retries by itself (`what` says which, and what happens next). */
  report(what: string, error: unknown): void;
}

/**
 * The process's one reporter of background errors, so an outage reads as a few lines, not silence
 * and not a flood: the first error of each kind (its code) at once, with the source that met it;
 * then at most one line per kind per `intervalMs`, saying how many more came and from where; and,
 * once every connection that failed is ready again, one line saying how long it was down.
 * A connection retries by itself, and the work that failed meanwhile reports its own outcome
 * (a failed job, a relay pass), so these lines are for the operator, not for recovery.
 */
export function createErrorReporter(log: Logger, intervalMs = 60_000): ErrorReporter {
  /** Per error code: when its last line was written, and what has come since. */
  const kinds = new Map<string, { loggedAt: number; more: number; sources: Set<string> }>();
  /** Connections with an error since they were last ready. */
  const down = new Set<string>();
  let downSince: number | null = null;
  let downErrors = 0;

  function report(name: string, error: unknown, connection: boolean): void {
    const now = Date.now();
    const code = errorCode(error);
    if (connection) {
      down.add(name);
      downSince ??= now;
      downErrors += 1;
    }
    const kind = kinds.get(code);
    if (kind && now - kind.loggedAt < intervalMs) {
      kind.more += 1;
      kind.sources.add(name);
      return;
    }
    const since = kind && kind.more > 0 ? { more: kind.more, from: [...kind.sources] } : {};
    kinds.set(code, { loggedAt: now, more: 0, sources: new Set() });
    const err = error instanceof Error ? error : new Error(redactedErrorText(error));
    log.warn({ err, source: name, code, ...since }, `${name}: ${redactedErrorText(error)}`);
  }

  function ready(name: string): void {
    if (!down.delete(name) || down.size > 0 || downSince === null) return;
    log.info({ downMs: Date.now() - downSince, errors: downErrors }, 'every Redis connection that failed is ready again');
    downSince = null;
    downErrors = 0;
    kinds.clear();
  }

  return {
    watch(source, name) {
      source.on('error', (error) => report(name, error, false));
    },
    watchConnection(source, name) {
      source.on('error', (error) => report(name, error, true));
      source.on('ready', () => ready(name));
    },
    report(what, error) {
      report(what, error, false);
    },
  };
}

/** What is being worked on, for a line logged far from it: an unhandled rejection, an uncaught exception. */
export interface WorkScope {
  requestId?: string | undefined;
  jobId?: string | undefined;
}

/**
 * The request or job under way, carried along its async calls. Node gives an `unhandledRejection`
 * listener the context the promise was rejected in, so the line it logs can name the request.
 */
export const workScope = new AsyncLocalStorage<WorkScope>();

/**
 * Logs what would otherwise end the process unexplained or pass in silence, with the request or
 * job it happened in when known. A rejection nobody handled is logged and the process goes on: it
 * was a promise nobody awaited, and every request and job reports its own outcome. An uncaught
 * exception leaves the process in an unknown state: it is logged, and `fatal` shuts down.
 */
export function logUnhandled(log: Logger, fatal: (error: unknown) => void): void {
  process.on('unhandledRejection', (reason) => {
    const err = reason instanceof Error ? reason : new Error(redactedErrorText(reason));
    log.error({ err, ...workScope.getStore() }, 'unhandled promise rejection');
  });
  process.on('uncaughtException', (error, origin) => {
    log.fatal({ err: error, origin, ...workScope.getStore() }, 'uncaught exception; shutting down');
    fatal(error);
  });
}
