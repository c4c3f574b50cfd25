import { z } from 'zod';
import { eventIdSchema, uuidSchema } from './fields.js';

export const notificationKinds = ['acute_patient', 'wait_exceeded', 'care_plan_awaiting_approval'] as const;
export const notificationKindSchema = z.enum(notificationKinds);
export type NotificationKind = z.infer<typeof notificationKindSchema>;

export const notificationSchema = z.object({
  id: uuidSchema,
  kind: notificationKindSchema,
  title: z.string(),
  body: z.string(),
  /** Where in the app it leads, e.g. `/patients/…`. */
  link: z.string(),
  createdAt: z.iso.datetime({ offset: true }),
  readAt: z.iso.datetime({ offset: true }).nullable(),
});
export type Notification = z.infer<typeof notificationSchema>;

export const inboxOutput = z.object({
  notifications: z.array(notificationSchema),
  unreadCount: z.number().int().nonnegative(),
  /** The event the inbox is current up to: subscribe to `onNew` from here. */
  lastEventId: eventIdSchema,
});
export type Inbox = z.infer<typeof inboxOutput>;

export const markReadInput = z.object({ ids: z.array(uuidSchema).min(1).max(500) });
