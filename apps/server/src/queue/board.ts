import { setTimeout as delay } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { activeStatuses, type Visit } from '@phos/shared';
import type { Db } from '../db/client.js';
import { coalesce } from '../coalesce.js';
import type { EventHub } from '../events/hub.js';
import type { LogPage } from '../events/log.js';
import { createErrorReporter } from '../logging.js';
import { latestEntryForPatient } from './entries.js';
import { queueEntries } from './schema.js';
import { estimateWait, placeInLine, placeInQueue, queuePace } from './waitEstimate.js';

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

/** News for one watcher: its patient's visit as the board computed it in pass `generation`. */
export interface VisitNews {
  /** The pass that last changed it; passes are numbered in the order they begin. */
  generation: number;
  patientId: string;
  fields: VisitFields;
}

/** One reader's view of the board; it keeps the board computing until closed. */
export interface VisitWatch {
  /**
   * Passes begun before the watch opened. One of them may have read the queue before the watcher
   * read its own visit, so only later ones are news.
   */
  readonly since: number;
  /** The patient whose visit this watch follows, once the watcher has read it has one. */
  follow(patientId: string): void;
  /**
   * Its patient's visit once a pass after `after` found it different from `sent`, what the watcher
   * last sent: at once for a new stage, clinician or room (or a registrant's first record), and not
   * before `placeNotBefore` (a time in ms) for a new place or estimate alone. Null once the watch is
   * closed. Rejects if the board fell behind the hub and could not tell whom the lost events touched.
   */
  next(after: number, sent: VisitFields, placeNotBefore: number): Promise<VisitNews | null>;
  close(): void;
}

export interface VisitBoard {
  /**
   * Opens a watch for `userId`'s visit, ending with `signal`. The board listens to the hub from this
   * call on, and finds the registrant's patient itself if a pass creates one.
   */
  watch(signal: AbortSignal | undefined, userId: string): VisitWatch;
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

/** One row of the board's read: a patient's latest entry, and its place if it is in line. */
interface BoardRow {
  id: string;
  patient_id: string;
  status: VisitFields['stage'];
  clinician_name: string | null;
  room_name: string | null;
  position: number | null;
}

/**
 * Every visit the queue's state gives, in three statements whatever the number of patients: the
 * latest entry of each patient in the clinic or touched by the batch with its place in line, and
 * the pace once. The rows come back raw: with thousands in the clinic, several times a second,
 * mapping each through the query builder was a tenth of the board's cost.
 */
async function computeVisits(db: Db, touched: ReadonlySet<string>): Promise<Map<string, VisitFields>> {
  const { rows } = (await db.execute(sql`
    with line as (
      select id, ${placeInLine} as position from ${queueEntries} where ${queueEntries.status} in ('waiting', 'in_triage')
    )
    select distinct on (e.patient_id) e.id, e.patient_id, e.status, e.clinician_name, e.room_name, line.position
    from ${queueEntries} e left join line on line.id = e.id
    where e.patient_id in (select patient_id from ${queueEntries} where status = any(${sql.param([...activeStatuses])}::text[]))
      or e.patient_id = any(${sql.param([...touched])}::uuid[])
    order by e.patient_id, e.arrived_at desc
  `)) as { rows: BoardRow[] };
  const pace = rows.some((row) => row.position !== null) ? await queuePace(db) : null;
  const visits = new Map<string, VisitFields>();
  for (const patientId of touched) visits.set(patientId, readyVisit);
  for (const row of rows) {
    const place = row.position !== null && pace ? { position: row.position, estimatedWaitMinutes: estimateWait(row.position, pace) } : null;
    visits.set(row.patient_id, entryVisit({ status: row.status, clinicianName: row.clinician_name, roomName: row.room_name }, place));
  }
  return visits;
}

/**
 * Passes begin at most this often. After a quiet spell an event's pass begins at once; in a busy
 * clinic the events of each interval make one batch, so a stage change waits at most this long
 * more, and the board reads the clinic a few times a second however fast events come.
 */
const PASS_SPACING_MS = 250;

/** A patient's visit as the board last computed it, and the pass that last changed it. */
interface Known {
  fields: VisitFields;
  changedIn: number;
}

function samePlace(a: VisitFields, b: VisitFields): boolean {
  return a.position === b.position && a.estimatedWaitMinutes === b.estimatedWaitMinutes;
}

function sameStage(a: VisitFields, b: VisitFields): boolean {
  return a.stage === b.stage && a.clinicianName === b.clinicianName && a.roomName === b.roomName;
}

interface Watcher {
  userId: string;
  patientId: string | null;
  /** The pending `next`, if the watcher waits for one. */
  waiting: {
    after: number;
    sent: VisitFields;
    placeNotBefore: number;
    resolve: (news: VisitNews | null) => void;
    reject: (error: Error) => void;
  } | null;
  /** Set while a place change waits for the watcher's `placeNotBefore`. */
  held: NodeJS.Timeout | null;
  failure: Error | null;
  open: boolean;
}

/**
 * The process's board: one per process, shared by every live visit, so the queue is read once per
 * batch of events rather than once per watching patient. It lives with the hub, whose events are
 * all it computes from, and it computes only while someone watches.
 *
 * It keeps each patient's last computed visit and which pass changed it, and wakes only the watchers
 * whose patient changed: at once for a stage, when due for a place. With thousands watching a busy
 * queue, every call-in moves everyone's place; a watcher then costs a comparison per pass and one
 * wake per place interval, not a wake per pass (docs/decisions/013-live-visits-fan-out.md).
 */
export function createVisitBoard(options: { db: Db; hub: EventHub; log: Logger }): VisitBoard {
  const { db, hub, log } = options;
  let listening: AbortController | null = null;
  let pending: Touched = { patients: new Set(), created: new Map() };
  let begun = 0;
  const known = new Map<string, Known>();
  /** Registrants a pass turned into patients: the pass, and the patient. */
  const createdFor = new Map<string, { generation: number; patientId: string }>();
  const watchers = new Set<Watcher>();
  const byPatient = new Map<string, Set<Watcher>>();
  const byUser = new Map<string, Set<Watcher>>();

  function add<K>(index: Map<K, Set<Watcher>>, key: K, watcher: Watcher): void {
    const set = index.get(key) ?? new Set();
    set.add(watcher);
    index.set(key, set);
  }

  function remove<K>(index: Map<K, Set<Watcher>>, key: K, watcher: Watcher): void {
    const set = index.get(key);
    set?.delete(watcher);
    if (set?.size === 0) index.delete(key);
  }

  function settle(watcher: Watcher, outcome: { news: VisitNews | null } | { error: Error }): void {
    const waiting = watcher.waiting;
    if (!waiting) return;
    watcher.waiting = null;
    if (watcher.held) clearTimeout(watcher.held);
    watcher.held = null;
    if ('error' in outcome) waiting.reject(outcome.error);
    else waiting.resolve(outcome.news);
  }

  /** Settles the watcher's pending `next` if it has news for it now, or arms its place timer. */
  function consider(watcher: Watcher): void {
    const waiting = watcher.waiting;
    if (!waiting) return;
    if (!watcher.open) {
      settle(watcher, { news: null });
      return;
    }
    if (watcher.failure) {
      settle(watcher, { error: watcher.failure });
      return;
    }
    const patientId = watcher.patientId;
    if (patientId === null) {
      // A registrant whose record a pass created: news at once, whatever else that pass found.
      const created = createdFor.get(watcher.userId);
      if (!created || created.generation <= waiting.after) return;
      follow(watcher, created.patientId);
      const fields = known.get(created.patientId)?.fields ?? readyVisit;
      settle(watcher, { news: { generation: created.generation, patientId: created.patientId, fields } });
      return;
    }
    const visit = known.get(patientId);
    if (!visit || visit.changedIn <= waiting.after) return;
    const news = { generation: visit.changedIn, patientId, fields: visit.fields };
    if (!sameStage(visit.fields, waiting.sent)) {
      settle(watcher, { news });
      return;
    }
    if (samePlace(visit.fields, waiting.sent)) return;
    const wait = waiting.placeNotBefore - Date.now();
    if (wait <= 0) {
      settle(watcher, { news });
      return;
    }
    watcher.held ??= setTimeout(() => {
      watcher.held = null;
      consider(watcher);
    }, wait);
  }

  function follow(watcher: Watcher, patientId: string): void {
    if (watcher.patientId === patientId) return;
    if (watcher.patientId === null) remove(byUser, watcher.userId, watcher);
    else remove(byPatient, watcher.patientId, watcher);
    watcher.patientId = patientId;
    add(byPatient, patientId, watcher);
  }

  async function pass(): Promise<void> {
    const touched = pending;
    pending = { patients: new Set(), created: new Map() };
    begun += 1;
    const generation = begun;
    let visits: Map<string, VisitFields>;
    try {
      visits = await computeVisits(db, touched.patients);
    } catch (error) {
      // Whoever these events touched is looked at again with the next batch.
      for (const patientId of touched.patients) pending.patients.add(patientId);
      for (const [userId, patientId] of touched.created) pending.created.set(userId, patientId);
      throw error;
    }
    if (!listening) return;
    const changed = new Set<string>();
    for (const [patientId, fields] of visits) {
      const before = known.get(patientId);
      if (before && sameStage(before.fields, fields) && samePlace(before.fields, fields)) continue;
      known.set(patientId, { fields, changedIn: generation });
      changed.add(patientId);
    }
    // Kept: everyone in the clinic, and whoever is watched; a patient gone and unwatched is forgotten.
    for (const patientId of known.keys()) if (!visits.has(patientId) && !byPatient.has(patientId)) known.delete(patientId);
    const news: Watcher[] = [];
    for (const [userId, patientId] of touched.created) {
      if (!byUser.has(userId)) continue;
      createdFor.set(userId, { generation, patientId });
      news.push(...(byUser.get(userId) ?? []));
    }
    for (const patientId of changed) news.push(...(byPatient.get(patientId) ?? []));
    for (const watcher of news) consider(watcher);
  }

  /** A pass, then a rest until PASS_SPACING_MS after it began; the events meanwhile make the next batch. */
  async function spacedPass(): Promise<void> {
    const began = Date.now();
    try {
      await pass();
    } finally {
      const rest = began + PASS_SPACING_MS - Date.now();
      if (rest > 0 && listening) await delay(rest);
    }
  }

  // Rate limited: while the database or Redis is away, every pass fails.
  const errors = createErrorReporter(log);
  const { run } = coalesce(spacedPass, (error) => {
    errors.report('computing live visits failed; trying again on the next queue event', error);
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
        const failure = error instanceof Error ? error : new Error('live visits fell behind the event hub');
        const failing = [...watchers];
        stop();
        for (const watcher of failing) {
          watcher.failure = failure;
          consider(watcher);
        }
      }
    })();
  }

  function stop(): void {
    listening?.abort();
    listening = null;
    known.clear();
    createdFor.clear();
    pending = { patients: new Set(), created: new Map() };
  }

  return {
    watch(signal, userId) {
      if (!listening) listen();
      const watcher: Watcher = { userId, patientId: null, waiting: null, held: null, failure: null, open: true };
      watchers.add(watcher);
      add(byUser, userId, watcher);
      const close = () => {
        if (!watcher.open) return;
        watcher.open = false;
        signal?.removeEventListener('abort', close);
        watchers.delete(watcher);
        if (watcher.patientId === null) remove(byUser, userId, watcher);
        else remove(byPatient, watcher.patientId, watcher);
        if (!byUser.has(userId)) createdFor.delete(userId);
        consider(watcher);
        if (watchers.size === 0) stop();
      };
      signal?.addEventListener('abort', close);
      if (signal?.aborted) close();
      return {
        since: begun,
        close,
        follow(patientId) {
          if (!watcher.open) return;
          follow(watcher, patientId);
          consider(watcher);
        },
        next(after, sent, placeNotBefore) {
          return new Promise((resolve, reject) => {
            if (watcher.waiting) throw new Error('a visit watch has one next() at a time');
            watcher.waiting = { after, sent, placeNotBefore, resolve, reject };
            consider(watcher);
          });
        },
      };
    },
  };
}
