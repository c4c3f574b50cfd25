import { z } from 'zod';
import { freeText, singleLineText, uuidSchema } from './fields.js';
import { staffRefSchema } from './queue.js';

export const carePlanStatuses = ['draft', 'active', 'rejected', 'superseded'] as const;
export const carePlanStatusSchema = z.enum(carePlanStatuses);
export type CarePlanStatus = z.infer<typeof carePlanStatusSchema>;

export const carePlanStatusLabels: Record<CarePlanStatus, string> = {
  draft: 'Awaiting approval',
  active: 'Active',
  rejected: 'Rejected',
  superseded: 'Replaced',
};

export const draftCarePlanInput = z.object({
  patientId: uuidSchema,
  title: singleLineText(200),
  goals: freeText(5000),
  instructions: freeText(10_000),
  /** The active plan this draft will replace once approved. */
  replacesPlanId: uuidSchema.optional(),
});
export type DraftCarePlanInput = z.infer<typeof draftCarePlanInput>;

export const approveCarePlanInput = z.object({ planId: uuidSchema });
export const rejectCarePlanInput = z.object({ planId: uuidSchema, reason: freeText(2000) });

export const carePlanSchema = z.object({
  id: uuidSchema,
  patientId: uuidSchema,
  /** 1 for a first plan; a replacement is the next version of the same plan. */
  version: z.number().int().positive(),
  replacesPlanId: uuidSchema.nullable(),
  title: z.string(),
  goals: z.string(),
  instructions: z.string(),
  status: carePlanStatusSchema,
  draftedBy: staffRefSchema,
  draftedAt: z.iso.datetime({ offset: true }),
  /** The approver's signature: who and when. */
  approvedBy: staffRefSchema.nullable(),
  approvedAt: z.iso.datetime({ offset: true }).nullable(),
  rejectedBy: staffRefSchema.nullable(),
  rejectedAt: z.iso.datetime({ offset: true }).nullable(),
  rejectionReason: z.string().nullable(),
  supersededAt: z.iso.datetime({ offset: true }).nullable(),
});
export type CarePlan = z.infer<typeof carePlanSchema>;

/**
 * The signed-in Patient's active plans. Until staff have confirmed their identity at the desk
 * there are none to show, and `identityVerified` lets the page say why.
 */
export const myCarePlansOutput = z.object({ plans: z.array(carePlanSchema), identityVerified: z.boolean() });
export type MyCarePlans = z.infer<typeof myCarePlansOutput>;
