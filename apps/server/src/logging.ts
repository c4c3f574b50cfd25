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

export function createLogger(options: LoggerOptions): Logger {
  return pino({ ...options, serializers: { err: errorSerializer, error: errorSerializer } });
}
