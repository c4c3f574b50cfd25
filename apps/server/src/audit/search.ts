import { and, arrayContains, desc, eq, gte, lt, lte, type SQL } from 'drizzle-orm';
import type { AuditFilter, AuditRow } from '@phos/shared';
import type { Db } from '../db/client.js';
import { auditLog } from './schema.js';

/** An audit row as stored, before the actor's name is looked up (identity knows names; this module does not). */
export type StoredAuditRow = Omit<AuditRow, 'userName'>;

/** Most rows one export carries; past it the export says it was truncated. */
export const AUDIT_EXPORT_LIMIT = 50_000;

function matching(filter: AuditFilter, before?: bigint): SQL | undefined {
  return and(
    filter.patientId ? arrayContains(auditLog.patientIds, [filter.patientId.toLowerCase()]) : undefined,
    filter.userId ? eq(auditLog.userId, filter.userId) : undefined,
    filter.from ? gte(auditLog.at, new Date(filter.from)) : undefined,
    filter.to ? lte(auditLog.at, new Date(filter.to)) : undefined,
    before !== undefined ? lt(auditLog.id, before) : undefined,
  );
}

function toStored(row: typeof auditLog.$inferSelect): StoredAuditRow {
  return {
    id: row.id.toString(),
    at: row.at.toISOString(),
    userId: row.userId,
    role: row.role as StoredAuditRow['role'],
    action: row.action,
    patientIds: row.patientIds,
    outcome: row.outcome,
    ip: row.ip,
    requestId: row.requestId,
    detail: row.detail,
  };
}

/**
 * Rows matching the filter, newest first, `limit` at a time: pass the last row's id as `before`
 * for the next page. Keyset pagination by id, which is in commit order, so pages never skip or
 * repeat a row while new ones are appended.
 */
export async function searchAudit(
  db: Db,
  filter: AuditFilter,
  page: { before?: string | undefined; limit: number },
): Promise<{ rows: StoredAuditRow[]; nextBefore: string | null }> {
  const rows = await db
    .select()
    .from(auditLog)
    .where(matching(filter, page.before === undefined ? undefined : BigInt(page.before)))
    .orderBy(desc(auditLog.id))
    .limit(page.limit + 1);
  const shown = rows.slice(0, page.limit).map(toStored);
  return { rows: shown, nextBefore: rows.length > page.limit ? (shown.at(-1)?.id ?? null) : null };
}

/** Up to `AUDIT_EXPORT_LIMIT` matching rows, newest first. */
export async function exportAudit(db: Db, filter: AuditFilter): Promise<{ rows: StoredAuditRow[]; truncated: boolean }> {
  const rows = await db
    .select()
    .from(auditLog)
    .where(matching(filter))
    .orderBy(desc(auditLog.id))
    .limit(AUDIT_EXPORT_LIMIT + 1);
  return { rows: rows.slice(0, AUDIT_EXPORT_LIMIT).map(toStored), truncated: rows.length > AUDIT_EXPORT_LIMIT };
}

const csvColumns = ['id', 'at', 'userId', 'userName', 'role', 'action', 'patientIds', 'outcome', 'ip', 'requestId', 'detail'] as const;

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote or line break, quotes doubled. A
 * value a spreadsheet would run as a formula (`=`, `+`, `-`, `@`) gets a leading apostrophe.
 */
function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

function csvValue(row: AuditRow, column: (typeof csvColumns)[number]): string {
  const value = row[column];
  if (value === null) return '';
  if (Array.isArray(value)) return value.join(' ');
  if (typeof value === 'object') return JSON.stringify(value);
  return value;
}

/** The rows as CSV with a header line, CRLF line ends as RFC 4180 has them. */
export function auditCsv(rows: readonly AuditRow[]): string {
  const lines = [csvColumns.join(','), ...rows.map((row) => csvColumns.map((column) => csvField(csvValue(row, column))).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}
