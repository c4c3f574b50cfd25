import { auditExportOutput, auditFilterSchema, auditSearchInput, auditSearchOutput, type AuditRow } from '@phos/shared';
import type { AuditDetail } from '../../audit/audit.js';
import { auditCsv, exportAudit, searchAudit, type StoredAuditRow } from '../../audit/search.js';
import type { Db } from '../../db/client.js';
import { displayNamesOf } from '../../identity/users.js';
import { auditRead, type AboutCall } from '../auditTrail.js';
import { adminProcedure, router } from '../trpc.js';

/**
 * Reading the trail is itself recorded, with the filter it used; a search by patient names that
 * patient, so their own trail shows who looked into it.
 */
const aboutFilter: AboutCall = ({ input }) => {
  const parsed = auditFilterSchema.safeParse(input);
  if (!parsed.success) return { patientIds: [] };
  const filter = parsed.data;
  const detail: AuditDetail = { ...filter };
  return { patientIds: filter.patientId ? [filter.patientId] : [], detail };
};

/** Names each row's actor: identity knows names, the audit module does not. */
async function withUserNames(db: Db, rows: readonly StoredAuditRow[]): Promise<AuditRow[]> {
  const ids = [...new Set(rows.flatMap((row) => (row.userId ? [row.userId] : [])))];
  const names = await displayNamesOf(db, ids);
  return rows.map((row) => ({ ...row, userName: row.userId ? (names.get(row.userId) ?? null) : null }));
}

export const auditRouter = router({
  /** Who read or changed what, newest first, by patient, user and time; Admins only. */
  search: adminProcedure
    .meta(auditRead(aboutFilter))
    .input(auditSearchInput)
    .output(auditSearchOutput)
    .query(async ({ ctx, input }) => {
      const { before, limit, ...filter } = input;
      const page = await searchAudit(ctx.db, filter, { before, limit });
      return { rows: await withUserNames(ctx.db, page.rows), nextBefore: page.nextBefore };
    }),

  /** The same rows as CSV, bounded: `truncated` says when the filter matched more. */
  export: adminProcedure
    .meta(auditRead(aboutFilter))
    .input(auditFilterSchema)
    .output(auditExportOutput)
    .query(async ({ ctx, input }) => {
      const { rows, truncated } = await exportAudit(ctx.db, input);
      return { csv: auditCsv(await withUserNames(ctx.db, rows)), rows: rows.length, truncated };
    }),
});
