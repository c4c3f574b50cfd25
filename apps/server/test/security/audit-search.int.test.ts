import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRow, User } from '@phos/shared';
import { recordAudit, type AuditActor } from '../../src/audit/audit.js';
import { auditLog } from '../../src/audit/schema.js';
import { createContextInner } from '../../src/trpc/context.js';
import { createCaller } from '../../src/trpc/router.js';
import { callerFor, createStaff, patientInput, startTestPhos, type TestPhos, trpcError } from '../support.js';

/** RFC 4180, enough to read back what the export wrote. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      row.push(field);
      field = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += char;
  }
  return rows;
}

describe('searching and exporting the audit trail (Admins only, itself audited)', () => {
  let phos: TestPhos;
  let admin: User;
  let nurse: User;
  let doctor: User;
  const patientA = randomUUID();
  const patientB = randomUUID();

  const actorOf = (user: User): AuditActor => ({ userId: user.id, role: user.role, ip: '192.0.2.10', requestId: randomUUID() });

  beforeAll(async () => {
    phos = await startTestPhos();
    const db = phos.services.db;
    admin = await createStaff(phos, 'Admin', { firstName: 'Aud', lastName: 'Itor' });
    nurse = await createStaff(phos, 'Provider', { firstName: 'Nora', lastName: 'Nurse' });
    doctor = await createStaff(phos, 'Provider', { firstName: 'Dan', lastName: 'Doctor' });
    for (let i = 0; i < 5; i++) {
      await recordAudit(db, actorOf(nurse), { action: 'patients.byId', patientIds: [patientA], outcome: 'allowed' });
      await recordAudit(db, actorOf(doctor), { action: 'queue.list', patientIds: [patientA, patientB], outcome: 'allowed' });
    }
    await recordAudit(db, actorOf(doctor), {
      action: 'patients.byId',
      patientIds: [patientB],
      outcome: 'refused',
      detail: { note: 'a, "quoted" value', appCode: 'FORBIDDEN' },
    });
    await recordAudit(db, actorOf(admin), { action: '=HYPERLINK("http://evil")', outcome: 'allowed' });
  });
  afterAll(() => phos.cleanup());

  function adminCaller(requestId = randomUUID()) {
    return createCaller(createContextInner({ services: phos.services, user: admin, requestId, ip: '192.0.2.1' }));
  }

  it('finds rows by patient and by user, newest first, with who acted named', async () => {
    const { rows } = await adminCaller().audit.search({ patientId: patientA, limit: 200 });
    expect(rows).toHaveLength(10);
    expect(rows.every((row) => row.patientIds.includes(patientA))).toBe(true);
    const ids = rows.map((row) => BigInt(row.id));
    expect(ids).toEqual([...ids].sort((a, b) => (a > b ? -1 : 1)));

    const byNurse = await adminCaller().audit.search({ userId: nurse.id });
    expect(byNurse.rows).toHaveLength(5);
    expect(byNurse.rows.every((row) => row.userId === nurse.id && row.userName === 'Nora Nurse' && row.role === 'Provider')).toBe(true);

    const both = await adminCaller().audit.search({ userId: doctor.id, patientId: patientB });
    expect(both.rows.map((row) => row.outcome).sort()).toEqual([...Array<string>(5).fill('allowed'), 'refused']);
  });

  it('finds rows by time range', async () => {
    const all = (await adminCaller().audit.search({ userId: doctor.id, limit: 200 })).rows;
    const pivot = all[3]!.at;
    const from = (await adminCaller().audit.search({ userId: doctor.id, from: pivot, limit: 200 })).rows;
    expect(from.map((row) => row.id)).toEqual(all.filter((row) => row.at >= pivot).map((row) => row.id));
    const to = (await adminCaller().audit.search({ userId: doctor.id, to: pivot, limit: 200 })).rows;
    expect(to.map((row) => row.id)).toEqual(all.filter((row) => row.at <= pivot).map((row) => row.id));
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await adminCaller().audit.search({ from: future })).rows).toEqual([]);
  });

  it('pages by id: every row once, in order, even while rows are appended', async () => {
    // The nurse's rows only: each search by patient is itself a row on that patient.
    const filter = { patientId: patientA, userId: nurse.id };
    const everything = (await adminCaller().audit.search({ ...filter, limit: 200 })).rows.map((row) => row.id);
    expect(everything.length).toBeGreaterThan(3);
    const paged: string[] = [];
    let before: string | undefined;
    for (;;) {
      const page = await adminCaller().audit.search({ ...filter, limit: 3, before });
      paged.push(...page.rows.map((row) => row.id));
      // A new row lands between pages: it is newer than every page, so no page shifts.
      await recordAudit(phos.services.db, actorOf(nurse), { action: 'patients.byId', patientIds: [patientA], outcome: 'allowed' });
      if (!page.nextBefore) break;
      before = page.nextBefore;
    }
    expect(paged).toEqual(everything);
  });

  it('exports CSV that a spreadsheet reads back: commas and quotes escaped, formulas defused', async () => {
    const exported = await adminCaller().audit.export({ userId: doctor.id });
    expect(exported).toMatchObject({ rows: 6, truncated: false });
    const [header, ...lines] = parseCsv(exported.csv);
    expect(header).toEqual(['id', 'at', 'userId', 'userName', 'role', 'action', 'patientIds', 'outcome', 'ip', 'requestId', 'detail']);
    expect(lines).toHaveLength(6);
    const refused = lines.find((line) => line[7] === 'refused')!;
    expect(refused[3]).toBe('Dan Doctor');
    expect(JSON.parse(refused[10]!)).toEqual({ note: 'a, "quoted" value', appCode: 'FORBIDDEN' });
    expect(lines.every((line) => line.length === header!.length)).toBe(true);
    const allowed = lines.find((line) => line[7] === 'allowed')!;
    expect(allowed[6]!.split(' ').sort()).toEqual([patientA, patientB].sort());

    const [, ...adminLines] = parseCsv((await adminCaller().audit.export({ userId: admin.id })).csv);
    expect(adminLines.map((line) => line[5])).toContain(`'=HYPERLINK("http://evil")`);
  });

  it('is for Admins only', async () => {
    for (const user of [nurse, null]) {
      const caller = callerFor(phos, user);
      for (const error of [await trpcError(caller.audit.search({})), await trpcError(caller.audit.export({}))]) {
        expect(['FORBIDDEN', 'UNAUTHORIZED']).toContain(error.code);
      }
    }
    const { user: patient } = await callerFor(phos).auth.register(patientInput());
    expect((await trpcError(callerFor(phos, patient).audit.search({}))).code).toBe('FORBIDDEN');
  });

  it('records every reading of the trail, with its filter; a search by patient shows on that patient', async () => {
    const requestId = randomUUID();
    await adminCaller(requestId).audit.search({ patientId: patientB, userId: doctor.id });
    const [row] = await phos.services.db.select().from(auditLog).where(eq(auditLog.requestId, requestId));
    expect(row).toMatchObject({
      action: 'audit.search',
      outcome: 'allowed',
      userId: admin.id,
      role: 'Admin',
      ip: '192.0.2.1',
      patientIds: [patientB],
      detail: { patientId: patientB, userId: doctor.id },
    });
    const exportId = randomUUID();
    await adminCaller(exportId).audit.export({ userId: nurse.id });
    const [exportRow] = await phos.services.db.select().from(auditLog).where(eq(auditLog.requestId, exportId));
    expect(exportRow).toMatchObject({ action: 'audit.export', userId: admin.id, detail: { userId: nurse.id } });

    const seen: AuditRow[] = (await adminCaller().audit.search({ patientId: patientB, userId: admin.id })).rows;
    expect(seen.map((entry) => entry.action)).toContain('audit.search');
  });
});
