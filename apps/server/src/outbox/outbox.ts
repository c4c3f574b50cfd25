import { inArray } from 'drizzle-orm';
import { integrationEvents, type IntegrationEventType } from '@phos/shared';
import type { z } from 'zod';
import type { Db } from '../db/client.js';
import { activeTraceparent } from '../trace-context.js';
import { outbox } from './schema.js';

type Payload<T extends IntegrationEventType> = z.input<(typeof integrationEvents)[T]['schema']>;

/**
 * Writes an integration event in the caller's transaction; the relay delivers it after commit.
 * `requestId` is the request that caused it (null for none, as at bootstrap): its job carries it,
 * as it does the trace context the row is written in.
 */
export async function writeOutbox<T extends IntegrationEventType>(
  tx: Db,
  type: T,
  payload: Payload<T>,
  requestId: string | null,
): Promise<string> {
  const [row] = await tx
    .insert(outbox)
    .values({ type, version: integrationEvents[type].version, payload, requestId, traceparent: activeTraceparent() ?? null })
    .returning({ id: outbox.id });
  if (!row) throw new Error('outbox insert returned no row');
  return row.id;
}

type Parsed<T extends IntegrationEventType> = z.output<(typeof integrationEvents)[T]['schema']>;

/** Reads and validates an outbox event; null when the row is gone. */
export async function readOutbox<T extends IntegrationEventType>(db: Db, id: string, type: T): Promise<Parsed<T> | null> {
  const read = (await readOutboxes(db, [id], type)).get(id);
  if (read instanceof Error) throw read;
  return read ?? null;
}

/**
 * Reads and validates outbox events in one statement: each id maps to its payload, or to the
 * error that keeps it from being one; an id whose row is gone is absent.
 */
export async function readOutboxes<T extends IntegrationEventType>(
  db: Db,
  ids: readonly string[],
  type: T,
): Promise<Map<string, Parsed<T> | Error>> {
  const rows =
    ids.length === 0
      ? []
      : await db
          .select()
          .from(outbox)
          .where(inArray(outbox.id, [...ids]));
  return new Map(rows.map((row) => [row.id, parseOutbox(row, type)]));
}

function parseOutbox<T extends IntegrationEventType>(row: typeof outbox.$inferSelect, type: T): Parsed<T> | Error {
  if (row.type !== type) return new Error(`outbox ${row.id} holds ${row.type}, not ${type}`);
  const parsed = integrationEvents[type].schema.safeParse(row.payload);
  // The path and code only: its message could quote the payload.
  if (!parsed.success) return new Error(`outbox ${row.id} does not match ${type} (${parsed.error.issues[0]?.code ?? 'invalid'})`);
  return parsed.data as Parsed<T>;
}
