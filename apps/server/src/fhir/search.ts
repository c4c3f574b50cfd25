import { badParameter } from './outcome.js';

/** A search's parameters as sent, each name with every value given for it (repeats are ANDed). */
export type SearchParams = ReadonlyMap<string, readonly string[]>;

export function searchParamsOf(query: Record<string, string | string[] | undefined> | URLSearchParams): SearchParams {
  const params = new Map<string, string[]>();
  const entries: [string, string][] =
    query instanceof URLSearchParams
      ? [...query.entries()]
      : Object.entries(query).flatMap(([name, value]) =>
          Array.isArray(value)
            ? value.map((v) => [name, v] as [string, string])
            : value === undefined
              ? []
              : [[name, value] as [string, string]],
        );
  for (const [name, value] of entries) params.set(name, [...(params.get(name) ?? []), value]);
  return params;
}

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 500;

/** The result parameters every search takes. */
export const resultParameters = ['_count', '_offset', '_sort', '_include', '_total', '_format'] as const;

/** Refuses what this type's search does not support: a client must not believe a filter applied that did not. */
export function checkParameters(type: string, params: SearchParams, supported: readonly string[]): void {
  for (const name of params.keys()) {
    const base = name.split(':')[0] ?? name;
    if ((resultParameters as readonly string[]).includes(base)) continue;
    if (!supported.includes(base)) throw badParameter(`${type} does not support the search parameter '${name}'`);
    if (name.includes(':') && !(base === 'name' && ['contains', 'exact'].includes(name.split(':')[1] ?? ''))) {
      throw badParameter(`the modifier in '${name}' is not supported`);
    }
  }
}

/** The one value of a parameter, or undefined; more than one is refused where it would be ambiguous. */
export function single(params: SearchParams, name: string): string | undefined {
  const values = params.get(name);
  if (!values || values.length === 0) return undefined;
  if (values.length > 1) throw badParameter(`'${name}' may be given once`);
  const [value] = values;
  if (value === undefined || value === '') throw badParameter(`'${name}' is empty`);
  return value;
}

/** Every value of a parameter, commas read as OR within one value (FHIR's rule). */
export function anyOf(params: SearchParams, name: string): string[][] {
  return (params.get(name) ?? []).map((value) => {
    const options = value.split(',').map((option) => option.trim());
    if (options.some((option) => option === '')) throw badParameter(`'${name}' has an empty value`);
    return options;
  });
}

export function paging(params: SearchParams): { count: number; offset: number } {
  const count = integerParam(params, '_count', DEFAULT_COUNT);
  const offset = integerParam(params, '_offset', 0);
  if (count > MAX_COUNT) throw badParameter(`_count is at most ${MAX_COUNT}`);
  return { count, offset };
}

function integerParam(params: SearchParams, name: string, fallback: number): number {
  const value = single(params, name);
  if (value === undefined) return fallback;
  if (!/^\d{1,9}$/.test(value)) throw badParameter(`'${name}' must be a whole number`);
  return Number(value);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isId(value: string): boolean {
  return UUID.test(value);
}

/** A reference parameter's id: `Type/id` or a bare id, of the type it must be. */
export function referencedId(value: string, type: string, name: string): string {
  const id = value.startsWith(`${type}/`) ? value.slice(type.length + 1) : value;
  if (!isId(id)) throw badParameter(`'${name}' must reference a ${type} by id`);
  return id;
}

export type DatePrefix = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

/** A date search value: its prefix and the range its precision covers, [start, end). */
export interface DateRange {
  prefix: DatePrefix;
  start: Date;
  end: Date;
}

/** Parses `ge2026-11-24`, `2026-11`, `2026`, or a full date-time with a zone. */
export function parseDate(value: string, name: string): DateRange {
  const match = /^(eq|ne|lt|le|gt|ge)?(\d{4})(?:-(\d{2})(?:-(\d{2})(T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?)?)?$/.exec(
    value,
  );
  if (!match)
    throw badParameter(`'${name}' must be a date (YYYY, YYYY-MM, YYYY-MM-DD or a date-time with a zone), with an optional prefix`);
  const [, prefix = 'eq', year, month, day, time] = match;
  const y = Number(year);
  let start: Date;
  let end: Date;
  if (time !== undefined) {
    start = new Date(`${year}-${month}-${day}${time}`);
    end = new Date(start.getTime() + 1000);
  } else if (day !== undefined) {
    start = new Date(Date.UTC(y, Number(month) - 1, Number(day)));
    end = new Date(Date.UTC(y, Number(month) - 1, Number(day) + 1));
  } else if (month !== undefined) {
    start = new Date(Date.UTC(y, Number(month) - 1, 1));
    end = new Date(Date.UTC(y, Number(month), 1));
  } else {
    start = new Date(Date.UTC(y, 0, 1));
    end = new Date(Date.UTC(y + 1, 0, 1));
  }
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) throw badParameter(`'${name}' is not a real date`);
  return { prefix: prefix as DatePrefix, start, end };
}
