import { desc, inArray, or } from 'drizzle-orm';
import type { Logger } from 'pino';
import { activeStatuses, type Visit } from '@phos/shared';
import type { Db } from '../db/client.js';
import { coalesce } from '../coalesce.js';
import type { EventHub } from '../events/hub.js';
import type { LogPage } from '../events/log.js';
import { latestEntryForPatient } from './entries.js';
import { queueEntries } from './schema.js';
import { estimateWait, placeInQueue, placesInLine, queuePace } from './waitEstimate.js';

/** A patient's visit as the queue tells it: everything but who is asking. */
export type VisitFields = Pick<Visit, 'stage' | 'position' | 'estimatedWaitMinutes' | 'clinicianName' | 'roomName'>;

/** What an entry's visit shows: its place and estimate while in line, the names while with a clinician. */
function entryVisit(
  entry: { status: VisitFields['stage']; clinicianName: string | null; roomName: string | null },
  place: { position: number; estimatedWaitMinutes: number } | null,
): VisitFields {
  const seen = entry.status === 'with_clinician';
  return {
    stage: entry.status,
    position: place?.position ?? null,
    estimatedWaitMinutes: place?.estimatedWaitMinutes ?? null,
    clinicianName: seen ? entry.clinicianName : null,
    roomName: seen ? entry.roomName : null,
  };
}

/** A patient with a record and no queue entry yet. */
export const readyVisit: VisitFields = { stage: 'ready', position: null, estimatedWaitMinutes: null, clinicianName: null, roomName: null };

/** One patient's visit, read on its own: what `visit.mine` answers and a live visit starts from. */
export async function patientVisit(db: Db, patientId: string): Promise<VisitFields> {
  const entry = await latestEntryForPatient(db, patientId);
  if (!entry) return readyVisit;
  const place = entry.status === 'waiting' || entry.status === 'in_triage' ? await placeInQueue(db, entry.id) : null;
  return entryVisit({ status: entry.status, clinicianName: entry.clinician?.name ?? null, roomName: entry.room?.name ?? null }, place);
}

/** Every visit one pass of the board computed. */
export interface VisitSnapshot {
  /** The pass that computed it; passes are numbered in the order they begin. */
  generation: number;
  /** By patient id: everyone with an entry in the clinic, and everyone the events of the pass touched. */
  visits: ReadonlyMap<string, VisitFields>;
  /** By user id: the patients the events of the pass created for a registrant. */
  created: ReadonlyMap<string, string>;
}

/** One reader's view of the board; it keeps the board computing until closed. */
export interface VisitWatch {
  /**
   * Passes begun before the watch opened. A snapshot from one of them may have read the queue before
   * the watcher read its own visit, so only later ones are news.
   */
  readonly since: number;
  /**
   * The first snapshot newer than `after`, as soon as there is one; null once the watch is closed.
   * Rejects if the board fell behind the hub and could not tell whom the lost events touched.
   */
  next(after: number): Promise<VisitSnapshot | null>;
  close(): void;
}

export interface VisitBoard {
  /** Opens a watch, ending with `signal`. The board listens to the hub from this call on. */
  watch(signal: AbortSignal | undefined): VisitWatch;
}

/** What the events of a batch touched: patients whose visit may have changed, and registrants who became patients. */
interface Touched {
  patients: Set<string>;
  created: Map<string, string>;
}

/** Notes what a page of events touched; false when nothing in it concerns the queue. */
function noteTouched(page: LogPage, touched: Touched): boolean {
  let queueMoved = false;
  for (const event of page.events) {
    if (event.type === 'patient.created') {
      touched.patients.add(event.payload.patientId);
      if (event.payload.userId) touched.created.set(event.payload.userId, event.payload.patientId);
      queueMoved = true;
    } else if (event.type === 'queue.entry.added' || event.type === 'queue.entry.updated' || event.type === 'queue.entry.overdue') {
      touched.patients.add(event.payload.entry.patientId);
      queueMoved = true;
    }
  }
  return queueMoved;
}

/**
 * Every visit the queue's state gives, in four statements whatever the number of patients: the
 * latest entry of each patient in the clinic or touched by the batch, the places in line, and the
 * pace once.
 */
async function computeVisits(db: Db, touched: ReadonlySet<string>): Promise<Map<string, VisitFields>> {
  const inClinic = db
    .select({ patientId: queueEntries.patientId })
    .from(queueEntries)
    .where(inArray(queueEntries.status, [...activeStatuses]));
  const latest = await db
    .selectDistinctOn([queueEntries.patientId], {
      id: queueEntries.id,
      patientId: queueEntries.patientId,
      status: queueEntries.status,
      clinicianName: queueEntries.clinicianName,
      roomName: queueEntries.roomName,
    })
    .from(queueEntries)
    .where(
      touched.size > 0
        ? or(inArray(queueEntries.patientId, inClinic), inArray(queueEntries.patientId, [...touched]))
        : inArray(queueEntries.patientId, inClinic),
    )
    .orderBy(queueEntries.patientId, desc(queueEntries.arrivedAt));
  const places = await placesInLine(db);
  const pace = places.size > 0 ? await queuePace(db) : null;
  const visits = new Map<string, VisitFields>();
  for (const patientId of touched) visits.set(patientId, readyVisit);
  for (const entry of latest) {
    const position = places.get(entry.id);
    visits.set(
      entry.patientId,
      entryVisit(entry, position !== undefined && pace ? { position, estimatedWaitMinutes: estimateWait(position, pace) } : null),
    );
  }
  return visits;
}

/**
 * The process's board: one per process, shared by every live visit, so the queue is read once per
 * batch of events rather than once per watching patient. It lives with the hub, whose events are
 * all it computes from, and it computes only while someone watches.
 */
export function createVisitBoard(options: { db: Db; hub: EventHub; log: Logger }): VisitBoard {
  const { db, hub, log } = options;
  let watchers = 0;
  let listening: AbortController | null = null;
  let pending: Touched = { patients: new Set(), created: new Map() };
  let begun = 0;
  let latest: VisitSnapshot | null = null;
  const waiters = new Set<() => void>();
  /** Ends each open watch with an error. */
  const failers = new Set<(error: unknown) => void>();

  async function pass(): Promise<void> {
    const touched = pending;
    pending = { patients: new Set(), created: new Map() };
    begun += 1;
    const generation = begun;
    try {
      const visits = await computeVisits(db, touched.patients);
      if (!listening) return;
      latest = { generation, visits, created: touched.created };
    } catch (error) {
      // Whoever these events touched is looked at again with the next batch.
      for (const patientId of touched.patients) pending.patients.add(patientId);
      for (const [userId, patientId] of touched.created) pending.created.set(userId, patientId);
      throw error;
    }
    // Woken watchers still waiting for a newer pass add themselves back, for the next one.
    const woken = [...waiters];
    waiters.clear();
    for (const wake of woken) wake();
  }

  const { run } = coalesce(pass, (error) => {
    log.warn({ err: error }, 'computing live visits failed; trying again on the next queue event');
  });

  function listen(): void {
    const controller = new AbortController();
    listening = controller;
    // `listen` registers with the hub now, before any watcher reads its own visit.
    const pages = hub.listen(controller.signal);
    void (async () => {
      try {
        for await (const page of pages) if (noteTouched(page, pending)) void run();
      } catch (error) {
        if (listening !== controller) return;
        // Pages were lost, so whom they touched is unknown: every watch ends with the error (the hub's
        // retryable BUSY), its client reconnects and reads its visit afresh; the next watch listens anew.
        log.warn({ err: error }, 'live visits fell behind the event hub; ending their streams');
        stop();
        for (const fail of [...failers]) fail(error);
      }
    })();
  }

  function stop(): void {
    listening?.abort();
    listening = null;
    latest = null;
    pending = { patients: new Set(), created: new Map() };
  }

  return {
    watch(signal) {
      watchers += 1;
      if (!listening) listen();
      const since = begun;
      let open = true;
      let failure: Error | null = null;
      const mine = new Set<() => void>();
      const wakeMine = () => {
        for (const wake of [...mine]) wake();
      };
      const fail = (error: unknown) => {
        failure = error instanceof Error ? error : new Error('live visits fell behind the event hub');
        wakeMine();
      };
      failers.add(fail);
      const close = () => {
        if (!open) return;
        open = false;
        failers.delete(fail);
        signal?.removeEventListener('abort', close);
        wakeMine();
        watchers -= 1;
        if (watchers === 0) stop();
      };
      signal?.addEventListener('abort', close);
      if (signal?.aborted) close();
      return {
        since,
        close,
        next(after) {
          return new Promise((resolve, reject) => {
            const check = (): boolean => {
              if (!open) resolve(null);
              else if (failure) reject(failure);
              else if (latest && latest.generation > after) resolve(latest);
              else return false;
              return true;
            };
            if (check()) return;
            const wake = () => {
              waiters.delete(wake);
              mine.delete(wake);
              if (!check()) {
                waiters.add(wake);
                mine.add(wake);
              }
            };
            waiters.add(wake);
            mine.add(wake);
          });
        },
      };
    },
  };
}
