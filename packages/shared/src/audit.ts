import { z } from 'zod';
import { roleSchema } from './roles.js';
import { uuidSchema } from './fields.js';

export const auditOutcomes = ['allowed', 'refused'] as const;

export const auditFilterSchema = z.object({
  patientId: uuidSchema.optional(),
  userId: uuidSchema.optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
});
export type AuditFilter = z.infer<typeof auditFilterSchema>;

export const auditSearchInput = auditFilterSchema.extend({
  /** The id of the last row of the previous page: rows come newest first. */
  before: z
    .string()
    .regex(/^\d{1,18}$/)
    .optional(),
  limit: z.number().int().min(1).max(200).default(50),
});

export const auditRowSchema = z.object({
  id: z.string(),
  at: z.iso.datetime({ offset: true }),
  userId: uuidSchema.nullable(),
  userName: z.string().nullable(),
  role: roleSchema.nullable(),
  action: z.string(),
  patientIds: z.array(uuidSchema),
  outcome: z.enum(auditOutcomes),
  ip: z.string().nullable(),
  requestId: z.string().nullable(),
  detail: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
});
export type AuditRow = z.infer<typeof auditRowSchema>;

export const auditSearchOutput = z.object({ rows: z.array(auditRowSchema), nextBefore: z.string().nullable() });
export const auditExportOutput = z.object({ csv: z.string(), rows: z.number().int(), truncated: z.boolean() });
