import { and, count, desc, eq, inArray, isNull } from 'drizzle-orm';
import type { Inbox, Notification } from '@phos/shared';
import type { Db } from '../db/client.js';
import { headEventId, type LoggedEvent, type NewEvent } from '../events/log.js';
import { notificationRules, type Recipients } from './rules.js';
import { notifications } from './schema.js';

/** Resolves recipients; implemented over identity by the caller, so this module needs none of it. */
export interface Directory {
  providers(db: Db): Promise<string[]>;
  signedInProviders(db: Db): Promise<string[]>;
}

type NotificationRow = typeof notifications.$inferSelect;

function toNotification(row: NotificationRow): Notification {
  return {
    id: row.id,
    kind: row.kind,
    title: row.title,
    body: row.body,
    link: row.link,
    createdAt: row.createdAt.toISOString(),
    readAt: row.readAt?.toISOString() ?? null,
  };
}

async function resolve(tx: Db, directory: Directory, recipients: Recipients): Promise<string[]> {
  switch (recipients.kind) {
    case 'users':
      return recipients.ids;
    case 'signed-in-providers':
      return (await directory.signedInProviders(tx)).filter((id) => id !== recipients.except);
    case 'all-providers':
      return (await directory.providers(tx)).filter((id) => id !== recipients.except);
  }
}

/** Applies the rules to a batch of events; returns the event announcing what it created. */
export async function notifyFromEvents(tx: Db, events: readonly LoggedEvent[], directory: Directory): Promise<NewEvent[]> {
  const rows: (typeof notifications.$inferInsert)[] = [];
  for (const event of events) {
    for (const rule of notificationRules) {
      if (rule.on !== event.type || (rule.when && !rule.when(event.payload))) continue;
      const message = rule.message(event.payload);
      const userIds = new Set(await resolve(tx, directory, rule.to(event.payload)));
      for (const userId of userIds) rows.push({ userId, eventId: event.id.toString(), ...message });
    }
  }
  if (rows.length === 0) return [];
  const created = await tx.insert(notifications).values(rows).returning();
  // One event per event that caused notifications, with its metadata: the request that led to them.
  const bySource = new Map<string, NotificationRow[]>();
  for (const row of created) bySource.set(row.eventId, [...(bySource.get(row.eventId) ?? []), row]);
  return events.flatMap((event): NewEvent[] => {
    const caused = bySource.get(event.id.toString());
    if (!caused) return [];
    return [
      {
        type: 'notifications.created',
        payload: { notifications: caused.map((row) => ({ ...toNotification(row), userId: row.userId })) },
        meta: { ...event.meta, causedBy: event.id.toString() },
      },
    ];
  });
}

/** The newest notifications and the unread count, in one snapshot with the event they are current to. */
export async function inboxOf(db: Db, userId: string, limit = 50): Promise<Inbox> {
  return db.transaction(
    async (tx) => {
      const lastEventId = await headEventId(tx);
      const rows = await tx
        .select()
        .from(notifications)
        .where(eq(notifications.userId, userId))
        .orderBy(desc(notifications.createdAt))
        .limit(limit);
      const [unread] = await tx
        .select({ n: count() })
        .from(notifications)
        .where(and(eq(notifications.userId, userId), isNull(notifications.readAt)));
      return { notifications: rows.map(toNotification), unreadCount: unread?.n ?? 0, lastEventId: lastEventId.toString() };
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  );
}

/** Marks the user's own notifications read; ids of others' are ignored. */
export async function markRead(db: Db, userId: string, ids: readonly string[] | 'all'): Promise<void> {
  await db
    .update(notifications)
    .set({ readAt: new Date() })
    .where(
      and(eq(notifications.userId, userId), isNull(notifications.readAt), ids === 'all' ? undefined : inArray(notifications.id, [...ids])),
    );
}
