import { eq } from 'drizzle-orm';
import { integrationEvents, type IntegrationEventType } from '@phos/shared';
import type { z } from 'zod';
import type { Db } from '../db/client.js';
import { outbox } from './schema.js';

type Payload<T extends IntegrationEventType> = z.input<(typeof integrationEvents)[T]['schema']>;

/** Writes an integration event in the caller's transaction; the relay delivers it after commit. */
export async function writeOutbox<T extends IntegrationEventType>(tx: Db, type: T, payload: Payload<T>): Promise<string> {
  const [row] = await tx.insert(outbox).values({ type, version: integrationEvents[type].version, payload }).returning({ id: outbox.id });
  if (!row) throw new Error('outbox insert returned no row');
  return row.id;
}

/** Reads and validates an outbox event; null when the row is gone. */
export async function readOutbox<T extends IntegrationEventType>(
  db: Db,
  id: string,
  type: T,
): Promise<z.output<(typeof integrationEvents)[T]['schema']> | null> {
  const [row] = await db.select().from(outbox).where(eq(outbox.id, id));
  if (!row) return null;
  if (row.type !== type) throw new Error(`outbox ${id} holds ${row.type}, not ${type}`);
  return integrationEvents[type].schema.parse(row.payload) as z.output<(typeof integrationEvents)[T]['schema']>;
}
