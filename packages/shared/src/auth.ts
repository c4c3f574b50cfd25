import { z } from 'zod';
import { dateOfBirthSchema, emailSchema, nameSchema, passwordSchema, uuidSchema } from './fields.js';
import { roleSchema } from './roles.js';

export const registerInput = z.object({
  email: emailSchema,
  password: passwordSchema,
  firstName: nameSchema,
  lastName: nameSchema,
  dateOfBirth: dateOfBirthSchema,
});
export type RegisterInput = z.infer<typeof registerInput>;

export const loginInput = z.object({
  email: emailSchema,
  password: z.string().min(1, 'Required').max(256),
});
export type LoginInput = z.infer<typeof loginInput>;

export const createUserInput = z
  .object({
    email: emailSchema,
    password: passwordSchema,
    firstName: nameSchema,
    lastName: nameSchema,
    role: roleSchema,
    dateOfBirth: dateOfBirthSchema.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.role === 'Patient' && value.dateOfBirth === undefined) {
      ctx.addIssue({ code: 'custom', path: ['dateOfBirth'], message: 'Required for a Patient' });
    }
  });
export type CreateUserInput = z.infer<typeof createUserInput>;

export const userSchema = z.object({
  id: uuidSchema,
  email: z.string(),
  role: roleSchema,
  firstName: z.string(),
  lastName: z.string(),
});
export type User = z.infer<typeof userSchema>;

export const userOutput = z.object({ user: userSchema });

/** The caller's session as the web app needs it to warn before an idle sign-out. */
export const sessionStateSchema = z.object({
  idleTimeoutMs: z.number().int().positive(),
  idleExpiresAt: z.iso.datetime({ offset: true }),
  expiresAt: z.iso.datetime({ offset: true }),
});
export type SessionState = z.infer<typeof sessionStateSchema>;

export const changePasswordInput = z.object({
  currentPassword: z.string().min(1, 'Required').max(256),
  newPassword: passwordSchema,
});

export const accountStatuses = ['active', 'disabled'] as const;
export const accountStatusSchema = z.enum(accountStatuses);
export type AccountStatus = z.infer<typeof accountStatusSchema>;

export const accountSchema = userSchema.extend({
  status: accountStatusSchema,
  createdAt: z.iso.datetime({ offset: true }),
  disabledAt: z.iso.datetime({ offset: true }).nullable(),
});
export type Account = z.infer<typeof accountSchema>;

export const listAccountsInput = z.object({ role: roleSchema.optional(), status: accountStatusSchema.optional() }).optional();
export const accountByIdInput = z.object({ id: uuidSchema });
export const changeRoleInput = z.object({ id: uuidSchema, role: roleSchema });
export const resetPasswordInput = z.object({ id: uuidSchema, password: passwordSchema });
