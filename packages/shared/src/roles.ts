import { z } from 'zod';

export const roles = ['Patient', 'Provider', 'Admin'] as const;
export const roleSchema = z.enum(roles);
export type Role = z.infer<typeof roleSchema>;

/** Roles that work the clinic queue. */
export const staffRoles: readonly Role[] = ['Provider', 'Admin'];
