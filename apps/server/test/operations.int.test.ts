import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineStatus, User } from '@phos/shared';
import { auditLog } from '../src/audit/schema.js';
import { reconcileRegistrations } from '../src/jobs/reconciler.js';
import { outbox } from '../src/outbox/schema.js';
import { patients } from '../src/patients/schema.js';
import { createContextInner, silentLogger } from '../src/trpc/context.js';
import { createCaller } from '../src/trpc/router.js';
import {
  callerFor,
  collect,
  createStaff,
  eventually,
  patientCountsFor,
  patientInput,
  registrationIdOf,
  startTestPhos,
  trpcError,
  type TestPhos,
} from './support.js';

/** Last names this database refuses, as a broken deployment or a bad migration would. */
const REFUSE = `alter table patients add constraint test_refuses check (last_name not like 'Refused%') not valid`;
const ALLOW = `alter table patients drop constraint test_refuses`;

let phos: TestPhos;
let admin: User;

async function failedIds(): Promise<string[]> {
  return (await phos.services.operations.status()).failedRegistrations.map((failed) => failed.registrationId);
}

async function patientsOfRegistration(registrationId: string) {
  return phos.services.db.select().from(patients).where(eq(patients.registrationId, registrationId));
}

function auditRowsOf(action: string) {
  return phos.services.db.select().from(auditLog).where(eq(auditLog.action, action));
}

/** The reconciler as its scheduled job runs it, with no grace: anything sent and unfinished is a candidate. */
function reconcileNow() {
  return reconcileRegistrations({ db: phos.services.db, registrations: phos.queue, log: silentLogger, graceMs: 0 });
}

beforeAll(async () => {
  phos = await startTestPhos();
  admin = await createStaff(phos, 'Admin');
});
afterAll(() => phos.cleanup());

describe('a registration whose data the database refuses', () => {
  it('fails at once without holding up others, waits for an Admin, and after the fix and a retry is exactly one patient', async () => {
    await phos.services.db.execute(sql.raw(REFUSE));
    const { user: refused } = await callerFor(phos).auth.register(patientInput({ firstName: 'Rhoda', lastName: 'Refusedson' }));
    const { user: fine } = await callerFor(phos).auth.register(patientInput({ lastName: 'Fineborn' }));
    const registrationId = await registrationIdOf(phos, refused.id);

    await eventually(async () => (await failedIds()).includes(registrationId), 20_000);
    await eventually(async () => (await patientCountsFor(phos, fine.id)).entries === 1, 20_000);
    const status = await phos.services.operations.status();
    const failed = status.failedRegistrations.find((entry) => entry.registrationId === registrationId);
    expect(failed).toMatchObject({ kind: 'self', patientName: 'Rhoda Refusedson', attempts: 1 });
    // The database's words, with its SQLSTATE and constraint, never the registrant's data.
    expect(failed?.error).toContain('23514');
    expect(failed?.error).toContain('test_refuses');
    expect(failed?.error).not.toContain('Refusedson');
    expect(failed?.firstAttemptAt).not.toBeNull();
    expect(status.failedTotal).toBeGreaterThanOrEqual(1);
    expect(status.queues.find((queue) => queue.name === 'registrations')).toMatchObject({ workers: 1 });

    // The reconciler mends deliveries, not registrations: this one stays failed for an Admin.
    expect(await reconcileNow()).toBe(0);
    expect(await phos.queue.getJobState(registrationId)).toBe('failed');

    await phos.services.db.execute(sql.raw(ALLOW));
    expect(await callerFor(phos, admin).ops.retryRegistration({ registrationId })).toEqual({ retried: 1 });
    await eventually(async () => (await patientCountsFor(phos, refused.id)).entries === 1, 20_000);
    await eventually(async () => (await phos.queue.getJobState(registrationId)) === 'completed');
    expect(await patientCountsFor(phos, refused.id)).toEqual({ patients: 1, entries: 1 });
    expect(await failedIds()).not.toContain(registrationId);

    // Retried twice (a second tab): the second is told, and nothing runs again.
    const again = await trpcError(callerFor(phos, admin).ops.retryRegistration({ registrationId }));
    expect(again.cause).toMatchObject({ appCode: 'NOT_FAILED' });
    expect(await patientCountsFor(phos, refused.id)).toEqual({ patients: 1, entries: 1 });

    const rows = await auditRowsOf('ops.retryRegistration');
    expect(rows.filter((row) => row.outcome === 'allowed')).toEqual([
      expect.objectContaining({ userId: admin.id, role: 'Admin', detail: { registrationIds: registrationId, count: 1 } }),
    ]);
    expect(rows.filter((row) => row.outcome === 'refused')).toEqual([
      expect.objectContaining({ userId: admin.id, detail: expect.objectContaining({ appCode: 'NOT_FAILED' }) as unknown }),
    ]);
  });

  it('retries every failed registration at once, each with all its attempts and its data rebuilt from the outbox', async () => {
    await phos.services.db.execute(sql.raw(REFUSE));
    const provider = await createStaff(phos);
    const { registrationId: walkIn } = await callerFor(phos, provider).patients.registerWalkIn({
      firstName: 'Wren',
      lastName: 'Refusedwalk',
      dateOfBirth: '1980-08-08',
    });
    const { user } = await callerFor(phos).auth.register(patientInput({ lastName: 'Refusedself' }));
    const self = await registrationIdOf(phos, user.id);
    await eventually(async () => {
      const ids = await failedIds();
      return ids.includes(walkIn) && ids.includes(self);
    }, 20_000);
    expect((await phos.services.operations.status()).failedRegistrations.find((entry) => entry.registrationId === walkIn)).toMatchObject({
      kind: 'walk_in',
      patientName: 'Wren Refusedwalk',
    });
    // Its data broke in Redis meanwhile: the retry mends it from the outbox row.
    await (await phos.queue.getJob(self))?.updateData({ registrationId: 'not-a-uuid' });

    await phos.services.db.execute(sql.raw(ALLOW));
    const { retried } = await callerFor(phos, admin).ops.retryAllRegistrations();
    expect(retried).toBeGreaterThanOrEqual(2);
    await eventually(async () => (await patientsOfRegistration(walkIn)).length === 1, 20_000);
    await eventually(async () => (await patientCountsFor(phos, user.id)).entries === 1, 20_000);
    expect(await patientsOfRegistration(walkIn)).toHaveLength(1);
    expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 1, entries: 1 });
    const [row] = (await auditRowsOf('ops.retryAllRegistrations')).filter((entry) => entry.outcome === 'allowed');
    expect(String(row?.detail.registrationIds)).toContain(walkIn);
    expect(String(row?.detail.registrationIds)).toContain(self);
  });

  it('is discarded with a reason an Admin must give: kept on the registration, and nothing retries it', async () => {
    await phos.services.db.execute(sql.raw(REFUSE));
    const { user } = await callerFor(phos).auth.register(patientInput({ lastName: 'Refusedforgood' }));
    const registrationId = await registrationIdOf(phos, user.id);
    await eventually(async () => (await failedIds()).includes(registrationId), 20_000);
    await phos.services.db.execute(sql.raw(ALLOW));

    const noReason = await trpcError(callerFor(phos, admin).ops.discardRegistration({ registrationId, reason: '  ' }));
    expect(noReason.code).toBe('BAD_REQUEST');
    const provider = await createStaff(phos);
    const forbidden = await trpcError(callerFor(phos, provider).ops.discardRegistration({ registrationId, reason: 'not theirs to do' }));
    expect(forbidden.code).toBe('FORBIDDEN');
    expect(await phos.queue.getJobState(registrationId)).toBe('failed');

    await callerFor(phos, admin).ops.discardRegistration({ registrationId, reason: 'Registered twice; the other one is queued' });
    const [row] = await phos.services.db.select().from(outbox).where(eq(outbox.id, registrationId));
    expect(row).toMatchObject({ discardedBy: admin.id, discardReason: 'Registered twice; the other one is queued' });
    expect(row?.discardedAt).toBeInstanceOf(Date);
    expect(await phos.queue.getJobState(registrationId)).toBe('unknown');
    expect(await failedIds()).not.toContain(registrationId);

    // Its job is gone, which the reconciler would otherwise re-deliver.
    expect(await reconcileNow()).toBe(0);
    const retry = await trpcError(callerFor(phos, admin).ops.retryRegistration({ registrationId }));
    expect(retry.cause).toMatchObject({ appCode: 'NOT_FAILED' });
    expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 0, entries: 0 });
    const audited = await phos.services.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'ops.discardRegistration'), eq(auditLog.outcome, 'allowed')));
    expect(audited).toEqual([expect.objectContaining({ userId: admin.id, detail: { registrationIds: registrationId, count: 1 } })]);
    // The reason is the Admin's words: it stays on the registration, not in the audit trail.
    expect(JSON.stringify(audited.map((entry) => entry.detail))).not.toContain('Registered twice');
  });
});

describe('the Operations stream', () => {
  it('shows the pipeline live, and a failed registration leaves the list once it is retried', async () => {
    await phos.services.db.execute(sql.raw(REFUSE));
    const controller = new AbortController();
    const caller = createCaller(createContextInner({ services: phos.services, user: admin }), { signal: controller.signal });
    const stream = collect(await caller.ops.pipeline(), { signal: controller.signal });
    try {
      const { user } = await callerFor(phos).auth.register(patientInput({ firstName: 'Lila', lastName: 'Refusedlive' }));
      const registrationId = await registrationIdOf(phos, user.id);
      const listed = (status: PipelineStatus) => status.failedRegistrations.some((entry) => entry.registrationId === registrationId);
      await eventually(() => Promise.resolve(stream.received.some((status) => listed(status))), 20_000);
      const shown = stream.received.find((status) => listed(status));
      expect(shown?.eventLog.consumers.map((consumer) => consumer.name)).toContain('notifications');
      expect(shown?.queues.find((queue) => queue.name === 'registrations')?.failed).toBeGreaterThanOrEqual(1);

      await phos.services.db.execute(sql.raw(ALLOW));
      await callerFor(phos, admin).ops.retryRegistration({ registrationId });
      await eventually(() => Promise.resolve(!listed(stream.received.at(-1)!)), 20_000);
      expect(await patientCountsFor(phos, user.id)).toEqual({ patients: 1, entries: 1 });
    } finally {
      controller.abort();
      await stream.ended;
    }
  });

  it('is for Admins only', async () => {
    const provider = await createStaff(phos);
    const refused = await trpcError(callerFor(phos, provider).ops.pipeline());
    expect(refused.code).toBe('FORBIDDEN');
  });
});
