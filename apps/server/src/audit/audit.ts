import { createHash } from 'node:crypto';
import { asc, gt, sql } from 'drizzle-orm';
import type { Role } from '@phos/shared';
import type { Db } from '../db/client.js';
import { auditChain, auditLog } from './schema.js';

export const GENESIS_HASH = '0'.repeat(64);

/** Who acted, from where: the same for every row a request writes. */
export interface AuditActor {
  userId: string | null;
  role: Role | null;
  ip: string | null;
  requestId: string | null;
}

export type AuditDetail = Record<string, string | number | boolean | null>;

export interface AuditEntry {
  /** The procedure (`patients.byId`) or the event (`auth.login`). */
  action: string;
  patientIds?: readonly string[];
  outcome: 'allowed' | 'refused';
  /** Ids and codes only: never health data, never a credential. */
  detail?: AuditDetail;
}

/** The row's content as hashed: a fixed field order and sorted detail keys, as jsonb returns them in any order. */
function canonicalContent(row: {
  at: Date;
  userId: string | null;
  role: string | null;
  action: string;
  patientIds: readonly string[];
  outcome: string;
  ip: string | null;
  requestId: string | null;
  detail: AuditDetail;
}): string {
  const detail = Object.fromEntries(Object.entries(row.detail).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify([
    row.at.toISOString(),
    row.userId,
    row.role,
    row.action,
    row.patientIds,
    row.outcome,
    row.ip,
    row.requestId,
    detail,
  ]);
}

/** What PostgreSQL computes in `recordAudit`, recomputed by the verifier. */
export function chainHash(previousHash: string, id: bigint, content: string): string {
  return createHash('sha256').update(`${previousHash}\n${id}\n${content}`, 'utf8').digest('hex');
}

/**
 * Appends one row to the audit trail in the caller's transaction (or on its own). One statement:
 * bumping the chain's head row hands out the next id and hash and holds the row lock until
 * commit, so rows chain in commit order with no gaps, exactly as event ids do.
 */
export async function recordAudit(db: Db, actor: AuditActor, entry: AuditEntry): Promise<void> {
  const at = new Date();
  const patientIds = (entry.patientIds ?? []).map((id) => id.toLowerCase());
  const detail = entry.detail ?? {};
  const content = canonicalContent({ at, ...actor, action: entry.action, patientIds, outcome: entry.outcome, detail });
  await db.execute(sql`
    with head as (
      update ${auditChain}
      set last_id = last_id + 1,
          last_hash = encode(sha256(convert_to(last_hash || E'\\n' || (last_id + 1)::text || E'\\n' || ${content}, 'UTF8')), 'hex')
      where id = 1
      returning last_id, last_hash
    )
    insert into ${auditLog} (id, at, user_id, role, action, patient_ids, outcome, ip, request_id, detail, hash)
    select head.last_id, ${at.toISOString()}::timestamptz, ${actor.userId}::uuid, ${actor.role}, ${entry.action},
           ${`{${patientIds.join(',')}}`}::uuid[], ${entry.outcome}, ${actor.ip}, ${actor.requestId},
           ${JSON.stringify(detail)}::jsonb, head.last_hash
    from head
  `);
}

export type AuditVerification = { ok: true; rows: number } | { ok: false; rows: number; firstBrokenId: string; reason: string };

/**
 * Walks the chain in id order and recomputes every hash. Names the first row whose hash, id or
 * link does not match: an edited, inserted, removed or reordered row, or a removed tail.
 */
export async function verifyAuditChain(db: Db, pageSize = 5000): Promise<AuditVerification> {
  let previousHash = GENESIS_HASH;
  let expectedId = 1n;
  let rows = 0;
  for (;;) {
    const page = await db
      .select()
      .from(auditLog)
      .where(gt(auditLog.id, expectedId - 1n))
      .orderBy(asc(auditLog.id))
      .limit(pageSize);
    for (const row of page) {
      if (row.id !== expectedId) {
        return { ok: false, rows, firstBrokenId: row.id.toString(), reason: `expected row ${expectedId} here: a row is missing` };
      }
      const content = canonicalContent({ ...row, detail: row.detail });
      if (chainHash(previousHash, row.id, content) !== row.hash) {
        return { ok: false, rows, firstBrokenId: row.id.toString(), reason: 'its hash does not match its content and the row before it' };
      }
      previousHash = row.hash;
      expectedId += 1n;
      rows += 1;
    }
    if (page.length < pageSize) break;
  }
  const [head] = await db.select().from(auditChain);
  if (head && (head.lastId !== expectedId - 1n || head.lastHash !== previousHash)) {
    return {
      ok: false,
      rows,
      firstBrokenId: expectedId.toString(),
      reason: `the chain's head is row ${head.lastId}: rows after ${expectedId - 1n} were removed`,
    };
  }
  return { ok: true, rows };
}
