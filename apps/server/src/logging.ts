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
 * Serialises errors without the values a failed query carried (its parameters, and PostgreSQL's
 * `Key (email)=(…)` detail), so patient data and credentials never reach a log line that way.
 */
export function errorSerializer(error: Error): object {
  if (!isQueryError(error)) return pino.stdSerializers.err(error);
  const cause = error.cause instanceof Error ? error.cause : undefined;
  const message = `Failed query: ${error.query}${cause ? `: ${cause.message}` : ''}`;
  return {
    type: error.name,
    message,
    stack: `${error.name}: ${message}${frames(error.stack)}${cause ? `\ncaused by: ${cause.name}${frames(cause.stack)}` : ''}`,
    query: error.query,
    code: (cause as { code?: unknown } | undefined)?.code,
  };
}

export function createLogger(options: LoggerOptions): Logger {
  return pino({ ...options, serializers: { err: errorSerializer, error: errorSerializer } });
}
