import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { outbox } from '../outbox/schema.js';

/** A registration still without its patient this long after it was committed is late. */
export const REGISTRATION_DELAYED_AFTER_MS = 30_000;

/**
 * When the user's registration, if it is still without its patient, counts as delayed: its outbox
 * row's time plus REGISTRATION_DELAYED_AFTER_MS. Null when the user has no registration event.
 */
export async function registrationDelayedAt(db: Db, userId: string): Promise<Date | null> {
  const [row] = await db
    .select({ createdAt: outbox.createdAt })
    .from(outbox)
    .where(and(eq(outbox.type, 'user.registered'), sql`${outbox.payload}->>'userId' = ${userId}`))
    .limit(1);
  return row ? new Date(row.createdAt.getTime() + REGISTRATION_DELAYED_AFTER_MS) : null;
}
