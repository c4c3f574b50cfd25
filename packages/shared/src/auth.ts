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
