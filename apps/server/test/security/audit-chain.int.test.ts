import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { desc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '@phos/shared';
import { recordAudit, verifyAuditChain, type AuditActor } from '../../src/audit/audit.js';
import { auditChain, auditLog } from '../../src/audit/schema.js';
import { carePlans } from '../../src/care-plans/schema.js';
import { connectPglite, type Database, type Db } from '../../src/db/client.js';
import { auditWrite } from '../../src/trpc/auditTrail.js';
import { createContextInner } from '../../src/trpc/context.js';
import { createCaller } from '../../src/trpc/router.js';
import { createCallerFactory, providerProcedure, router } from '../../src/trpc/trpc.js';
import { callerFor, createStaff, eventually, patientInput, startTestPhos, type TestPhos, trpcError } from '../support.js';

const actor: AuditActor = { userId: null, role: null, ip: '203.0.113.9', requestId: 'test' };

/** What an attacker with database access does: switch the append-only trigger off, change the rows, switch it back. */
async function asAttacker(db: Db, work: () => Promise<unknown>): Promise<void> {
  await db.execute(sql`alter table audit_log disable trigger audit_log_append_only`);
  try {
    await work();
  } finally {
    await db.execute(sql`alter table audit_log enable trigger audit_log_append_only`);
  }
}

/** Makes every insert into `table` fail until the returned function is called. */
async function failInsertsInto(db: Db, table: 'event_log' | 'audit_log'): Promise<() => Promise<void>> {
  await db.execute(
    sql.raw(`create or replace function phos_test_refuse() returns trigger language plpgsql as $$
    begin raise exception 'test: inserts refused'; end $$`),
  );
  await db.execute(sql.raw(`create trigger phos_test_refuse before insert on ${table} for each row execute function phos_test_refuse()`));
  return async () => {
    await db.execute(sql.raw(`drop trigger phos_test_refuse on ${table}`));
  };
}

describe('the audit trail is append-only and tamper-evident', () => {
  let phos: TestPhos;
  let db: Db;
  let provider: User;
  let drafter: User;
  let patientId: string;

  beforeAll(async () => {
    phos = await startTestPhos();
    db = phos.services.db;
    provider = await createStaff(phos);
    drafter = await createStaff(phos);
    const { user } = await callerFor(phos).auth.register(patientInput());
    patientId = await eventually(async () => (await callerFor(phos, user).registrant.status()).patientId);
    for (let i = 0; i < 5; i++) await callerFor(phos, provider).patients.byId({ id: patientId });
  });
  afterAll(() => phos.cleanup());

  it('refuses UPDATE and DELETE through the trigger', async () => {
    await expect(db.execute(sql`update audit_log set ip = '1.2.3.4' where id = 2`)).rejects.toThrow();
    await expect(db.execute(sql`delete from audit_log where id = 2`)).rejects.toThrow();
    await expect(db.execute(sql`delete from audit_log`)).rejects.toThrow();
    expect(await verifyAuditChain(db)).toMatchObject({ ok: true });
  });

  it('names an edited row, even with the trigger switched off', async () => {
    // A staff read of the patient, as someone covering their tracks would pick.
    const [row] = await db.select().from(auditLog).where(eq(auditLog.action, 'patients.byId')).orderBy(auditLog.id).limit(1);
    const id = row!.id;
    for (const change of [
      sql`update audit_log set ip = '10.9.9.9' where id = ${id}`,
      sql`update audit_log set patient_ids = '{}'::uuid[] where id = ${id}`,
      sql`update audit_log set user_id = null, role = null where id = ${id}`,
      sql`update audit_log set detail = '{"appCode":"none"}'::jsonb where id = ${id}`,
      sql`update audit_log set at = at - interval '1 day' where id = ${id}`,
    ]) {
      await asAttacker(db, () => db.execute(change));
      expect(await verifyAuditChain(db)).toMatchObject({ ok: false, firstBrokenId: id.toString() });
      await asAttacker(db, () => db.update(auditLog).set(row!).where(eq(auditLog.id, id)));
      expect(await verifyAuditChain(db)).toMatchObject({ ok: true });
    }
  });

  it('names the gap where a row was deleted, and a removed tail', async () => {
    const [middle] = await db.select().from(auditLog).where(eq(auditLog.id, 2n));
    await asAttacker(db, () => db.delete(auditLog).where(eq(auditLog.id, 2n)));
    const gap = await verifyAuditChain(db);
    expect(gap).toMatchObject({ ok: false, firstBrokenId: '3' });
    expect(!gap.ok && gap.reason).toContain('missing');
    await db.insert(auditLog).values(middle!);
    expect(await verifyAuditChain(db)).toMatchObject({ ok: true });

    const [last] = await db.select().from(auditLog).orderBy(desc(auditLog.id)).limit(1);
    await asAttacker(db, () => db.delete(auditLog).where(eq(auditLog.id, last!.id)));
    expect(await verifyAuditChain(db)).toMatchObject({ ok: false, firstBrokenId: last!.id.toString() });
    await db.insert(auditLog).values(last!);
    expect(await verifyAuditChain(db)).toMatchObject({ ok: true });
  });

  it('names a row rewritten with a recomputed hash: every later link breaks', async () => {
    // An attacker who rehashes the row they changed still fails on the next row's link.
    const [row] = await db.select().from(auditLog).where(eq(auditLog.id, 2n));
    await asAttacker(db, () =>
      db
        .update(auditLog)
        .set({ hash: 'f'.repeat(64) })
        .where(eq(auditLog.id, 2n)),
    );
    expect(await verifyAuditChain(db)).toMatchObject({ ok: false, firstBrokenId: '2' });
    await asAttacker(db, () => db.update(auditLog).set(row!).where(eq(auditLog.id, 2n)));
  });

  it('leaves no row for a transaction that rolls back', async () => {
    const [before] = await db.select().from(auditChain);
    await expect(
      db.transaction(async (tx) => {
        await recordAudit(tx, actor, { action: 'test.rolledBack', outcome: 'allowed' });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await db.select().from(auditLog).where(eq(auditLog.action, 'test.rolledBack'))).toEqual([]);
    expect((await db.select().from(auditChain))[0]).toEqual(before);
    expect(await verifyAuditChain(db)).toMatchObject({ ok: true });
  });

  it('rolls a procedure’s row back with its change, and records the failed call as refused instead', async () => {
    const requestId = randomUUID();
    const caller = createCaller(createContextInner({ services: phos.services, user: drafter, requestId }));
    // The care plan and its audit row are written, then appending its event fails: all of it rolls back.
    const restore = await failInsertsInto(db, 'event_log');
    try {
      const failed = await trpcError(caller.carePlans.draft({ patientId, title: 'Rolled back', goals: 'g', instructions: 'i' }));
      expect(failed.code).toBe('INTERNAL_SERVER_ERROR');
    } finally {
      await restore();
    }
    expect(await db.select().from(carePlans).where(eq(carePlans.title, 'Rolled back'))).toEqual([]);
    const rows = await db.select().from(auditLog).where(eq(auditLog.requestId, requestId));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ action: 'carePlans.draft', outcome: 'refused', patientIds: [patientId] });
    expect(await verifyAuditChain(db)).toMatchObject({ ok: true });
    await expect(
      callerFor(phos, drafter).carePlans.draft({ patientId, title: 'Works again', goals: 'g', instructions: 'i' }),
    ).resolves.toBeDefined();
  });

  it('does not answer a read whose audit row cannot be written', async () => {
    const restore = await failInsertsInto(db, 'audit_log');
    try {
      const error = await trpcError(callerFor(phos, provider).patients.byId({ id: patientId }));
      expect(error.code).toBe('INTERNAL_SERVER_ERROR');
    } finally {
      await restore();
    }
  });

  it('enforces exactly one row: a procedure that forgets is an error (and still leaves its row), one that records twice too', async () => {
    const probe = router({
      forgets: providerProcedure.meta(auditWrite()).mutation(() => 'changed'),
      twice: providerProcedure.meta(auditWrite()).mutation(async ({ ctx }) => {
        await ctx.audit.record(ctx.db, { patientIds: [] });
        await ctx.audit.record(ctx.db, { patientIds: [] });
        return 'changed';
      }),
    });
    for (const procedure of ['forgets', 'twice'] as const) {
      const requestId = randomUUID();
      const caller = createCallerFactory(probe)(createContextInner({ services: phos.services, user: provider, requestId }));
      expect((await trpcError(caller[procedure]())).code).toBe('INTERNAL_SERVER_ERROR');
      expect(await db.select().from(auditLog).where(eq(auditLog.requestId, requestId))).toHaveLength(1);
    }
  });
});

describe('npm run audit:verify', () => {
  const cli = fileURLToPath(new URL('../../src/audit/verify-cli.ts', import.meta.url));
  let dataDir: string;

  function verify() {
    const result = spawnSync(process.execPath, ['--import', 'tsx', cli], {
      env: { ...process.env, DATABASE_URL: '', PHOS_DATA_DIR: dataDir },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: result.status, out: `${result.stdout}${result.stderr}` };
  }

  async function withDatabase(work: (database: Database) => Promise<unknown>): Promise<void> {
    const database = connectPglite(path.join(dataDir, 'pglite'));
    try {
      await work(database);
    } finally {
      await database.close();
    }
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'phos-audit-verify-'));
    await withDatabase(async (database) => {
      await database.migrate();
      for (let i = 0; i < 3; i++) await recordAudit(database.db, actor, { action: 'test.cli', outcome: 'allowed' });
    });
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  // Two `npm run audit:verify` processes, each starting tsx: allow for a loaded host.
  it('says the trail is intact, then names the first broken row', { timeout: 120_000 }, async () => {
    const intact = verify();
    expect(intact.code).toBe(0);
    expect(intact.out).toContain('audit trail intact: 3 rows');
    await withDatabase(({ db }) => asAttacker(db, () => db.execute(sql`update audit_log set action = 'test.other' where id = 2`)));
    const broken = verify();
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/row 2\b/);
  });

  it('refuses politely while a running Phos holds the embedded database', () => {
    mkdirSync(path.join(dataDir, 'redis'), { recursive: true });
    writeFileSync(path.join(dataDir, 'redis', 'owner.pid'), String(process.pid));
    try {
      const refused = verify();
      expect(refused.code).toBe(2);
      expect(refused.out).toContain('Phos is running');
    } finally {
      rmSync(path.join(dataDir, 'redis'), { recursive: true, force: true });
    }
  });
});
