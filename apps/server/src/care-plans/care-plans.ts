import { and, desc, eq } from 'drizzle-orm';
import type { CarePlan, DomainEvent, DraftCarePlanInput, StaffRef } from '@phos/shared';
import type { Db } from '../db/client.js';
import { AppError } from '../errors.js';
import { carePlans } from './schema.js';

type CarePlanRow = typeof carePlans.$inferSelect;
type PlanChange = { plan: CarePlan; events: DomainEvent[] };

function ref(id: string | null, name: string | null): StaffRef | null {
  return id !== null && name !== null ? { id, name } : null;
}

export function toCarePlan(row: CarePlanRow): CarePlan {
  return {
    id: row.id,
    patientId: row.patientId,
    version: row.version,
    replacesPlanId: row.replacesPlanId,
    title: row.title,
    goals: row.goals,
    instructions: row.instructions,
    status: row.status,
    draftedBy: { id: row.draftedById, name: row.draftedByName },
    draftedAt: row.draftedAt.toISOString(),
    approvedBy: ref(row.approvedById, row.approvedByName),
    approvedAt: row.approvedAt?.toISOString() ?? null,
    rejectedBy: ref(row.rejectedById, row.rejectedByName),
    rejectedAt: row.rejectedAt?.toISOString() ?? null,
    rejectionReason: row.rejectionReason,
    supersededAt: row.supersededAt?.toISOString() ?? null,
  };
}

async function lockPlan(tx: Db, planId: string): Promise<CarePlanRow> {
  const [row] = await tx.select().from(carePlans).where(eq(carePlans.id, planId)).for('update');
  if (!row) throw new AppError('NOT_FOUND', 'No such care plan');
  return row;
}

/** A new draft, or the next version of an active plan (which stays in force until approval). */
export async function draftCarePlan(tx: Db, input: DraftCarePlanInput, by: StaffRef): Promise<PlanChange> {
  let version = 1;
  if (input.replacesPlanId) {
    const replaced = await lockPlan(tx, input.replacesPlanId);
    if (replaced.patientId !== input.patientId) throw new AppError('INVALID_INPUT', 'That plan belongs to another patient');
    if (replaced.status !== 'active') throw new AppError('INVALID_TRANSITION', 'Only an active plan can be replaced');
    version = replaced.version + 1;
  }
  const [row] = await tx
    .insert(carePlans)
    .values({
      patientId: input.patientId,
      version,
      replacesPlanId: input.replacesPlanId ?? null,
      title: input.title,
      goals: input.goals,
      instructions: input.instructions,
      draftedById: by.id,
      draftedByName: by.name,
    })
    .returning();
  if (!row) throw new Error('care plan insert returned no row');
  const plan = toCarePlan(row);
  return { plan, events: [{ type: 'careplan.drafted', payload: { plan, by } }] };
}

/**
 * Draft → active, signed by the approver; the plan it replaces, if any, is superseded. Four eyes:
 * the approver is never the clinician who drafted it.
 */
export async function approveCarePlan(tx: Db, planId: string, by: StaffRef): Promise<PlanChange> {
  const row = await lockPlan(tx, planId);
  if (row.draftedById === by.id) throw new AppError('OWN_DRAFT');
  if (row.status !== 'draft') {
    throw new AppError('INVALID_TRANSITION', `This plan is no longer awaiting approval (${row.status})`);
  }
  const now = new Date();
  if (row.replacesPlanId) {
    const replaced = await lockPlan(tx, row.replacesPlanId);
    if (replaced.status !== 'active') {
      throw new AppError('INVALID_TRANSITION', 'The plan this draft replaces is no longer active');
    }
    await tx.update(carePlans).set({ status: 'superseded', supersededAt: now }).where(eq(carePlans.id, replaced.id));
  }
  const [updated] = await tx
    .update(carePlans)
    .set({ status: 'active', approvedById: by.id, approvedByName: by.name, approvedAt: now })
    .where(eq(carePlans.id, row.id))
    .returning();
  if (!updated) throw new Error('care plan update returned no row');
  const plan = toCarePlan(updated);
  return { plan, events: [{ type: 'careplan.approved', payload: { plan, by } }] };
}

export async function rejectCarePlan(tx: Db, planId: string, reason: string, by: StaffRef): Promise<PlanChange> {
  const row = await lockPlan(tx, planId);
  if (row.status !== 'draft') {
    throw new AppError('INVALID_TRANSITION', `This plan is no longer awaiting approval (${row.status})`);
  }
  const [updated] = await tx
    .update(carePlans)
    .set({ status: 'rejected', rejectedById: by.id, rejectedByName: by.name, rejectedAt: new Date(), rejectionReason: reason })
    .where(eq(carePlans.id, row.id))
    .returning();
  if (!updated) throw new Error('care plan update returned no row');
  const plan = toCarePlan(updated);
  return { plan, events: [{ type: 'careplan.rejected', payload: { plan, by } }] };
}

export async function carePlansOfPatient(db: Db, patientId: string, options: { activeOnly?: boolean } = {}): Promise<CarePlan[]> {
  const rows = await db
    .select()
    .from(carePlans)
    .where(and(eq(carePlans.patientId, patientId), options.activeOnly ? eq(carePlans.status, 'active') : undefined))
    .orderBy(desc(carePlans.draftedAt));
  return rows.map(toCarePlan);
}

export async function findCarePlan(db: Db, planId: string): Promise<CarePlan | undefined> {
  const [row] = await db.select().from(carePlans).where(eq(carePlans.id, planId));
  return row ? toCarePlan(row) : undefined;
}
