import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import { acuityLevels, defaultAcuityTargets, type AcuityTargets, type Room } from '@phos/shared';
import type { Db } from '../db/client.js';
import { AppError } from '../errors.js';
import { acuityTargets, rooms } from './schema.js';

export async function getAcuityTargets(db: Db): Promise<AcuityTargets> {
  const rows = await db.select().from(acuityTargets);
  const targets: AcuityTargets = { ...defaultAcuityTargets };
  for (const row of rows) targets[row.acuity] = row.minutes;
  return targets;
}

export async function setAcuityTargets(tx: Db, targets: AcuityTargets): Promise<AcuityTargets> {
  await tx
    .insert(acuityTargets)
    .values(acuityLevels.map((acuity) => ({ acuity, minutes: targets[acuity] })))
    .onConflictDoUpdate({ target: acuityTargets.acuity, set: { minutes: sql`excluded.minutes` } });
  return getAcuityTargets(tx);
}

export async function listRooms(db: Db): Promise<Room[]> {
  return db.select({ id: rooms.id, name: rooms.name }).from(rooms).where(isNull(rooms.archivedAt)).orderBy(asc(rooms.name));
}

export async function findRoom(db: Db, id: string): Promise<Room | undefined> {
  const [row] = await db
    .select({ id: rooms.id, name: rooms.name })
    .from(rooms)
    .where(and(eq(rooms.id, id), isNull(rooms.archivedAt)));
  return row;
}

export async function createRoom(db: Db, name: string): Promise<Room> {
  const [existing] = await db
    .select({ id: rooms.id })
    .from(rooms)
    .where(and(sql`lower(${rooms.name}) = lower(${name})`, isNull(rooms.archivedAt)));
  if (existing) throw new AppError('NAME_TAKEN', `A room called ${name} already exists`);
  const [row] = await db.insert(rooms).values({ name }).returning({ id: rooms.id, name: rooms.name });
  if (!row) throw new Error('room insert returned no row');
  return row;
}

export async function archiveRoom(db: Db, id: string): Promise<void> {
  const archived = await db
    .update(rooms)
    .set({ archivedAt: new Date() })
    .where(and(eq(rooms.id, id), isNull(rooms.archivedAt)))
    .returning({ id: rooms.id });
  if (archived.length === 0) throw new AppError('NOT_FOUND', 'No such room');
}
