import type { Bundle, BundleEntry, Encounter, Parameters, Subscription } from '@medplum/fhirtypes';
import { and, count, eq, gt, inArray, lte, sql } from 'drizzle-orm';
import type { QueueEntry } from '@phos/shared';
import type { Db } from '../db/client.js';
import type { EventHub } from '../events/hub.js';
import { headEventId, type LoggedEvent } from '../events/log.js';
import { eventLog } from '../events/schema.js';
import { streamEvents } from '../events/stream.js';
import type { SystemClient } from './access.js';
import { encounterStatusOf, reference } from './mapping.js';
import { FhirError } from './outcome.js';
import { fhirSubscriptions } from './schema.js';
import { isId, referencedId } from './search.js';

/** The one topic Phos offers: a visit arrived or changed (status, acuity, clinician, room). */
export const ENCOUNTER_TOPIC = 'urn:phos:fhir:SubscriptionTopic:encounter';

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
/** Server-sent events: not an R4 channel type, so named with the backport's channel-type extension. */
export const SSE_CHANNEL = { system: 'urn:phos:subscription-channel-type', code: 'server-sent-events', display: 'Server-sent events' };

/** The events that change an Encounter. */
const ENCOUNTER_EVENTS = ['queue.entry.added', 'queue.entry.updated'] as const;

type SubscriptionRow = typeof fhirSubscriptions.$inferSelect;

function extensionValue(element: unknown, url: string): unknown {
  const extensions = (element as { extension?: { url?: string; valueString?: string; valueCode?: string }[] } | undefined)?.extension ?? [];
  const found = extensions.find((extension) => extension.url === url);
  return found?.valueString ?? found?.valueCode;
}

/** Reads a client's Subscription: Phos's topic, an optional `Encounter?patient=` filter, and what each notification carries. */
export function parseSubscription(resource: unknown): { patientId: string | null; content: 'id-only' | 'full-resource' } {
  const subscription = resource as (Partial<Subscription> & { _criteria?: unknown; channel?: { _payload?: unknown } }) | null;
  if (subscription?.resourceType !== 'Subscription') throw new FhirError(400, 'invalid', 'Send a Subscription resource');
  if (subscription.criteria !== ENCOUNTER_TOPIC) throw new FhirError(400, 'not-supported', `The one topic is ${ENCOUNTER_TOPIC}`);
  const filter = extensionValue(subscription._criteria, `${BACKPORT}/backport-filter-criteria`);
  let patientId: string | null = null;
  if (filter !== undefined) {
    const match = typeof filter === 'string' ? /^Encounter\?patient=(.+)$/.exec(filter) : null;
    if (!match?.[1]) throw new FhirError(400, 'not-supported', 'The one filter is Encounter?patient=Patient/<id>');
    patientId = referencedId(match[1], 'Patient', 'patient');
  }
  const content = extensionValue(subscription.channel?._payload, `${BACKPORT}/backport-payload-content`) ?? 'full-resource';
  if (content !== 'id-only' && content !== 'full-resource')
    throw new FhirError(400, 'not-supported', 'Payload content is id-only or full-resource');
  return { patientId, content };
}

export async function createSubscription(db: Db, client: SystemClient, resource: unknown): Promise<SubscriptionRow> {
  const { patientId, content } = parseSubscription(resource);
  const [row] = await db
    .insert(fhirSubscriptions)
    .values({ apiClientId: client.id, topic: ENCOUNTER_TOPIC, patientId, content, startEventId: await headEventId(db) })
    .returning();
  if (!row) throw new FhirError(500, 'exception', 'The subscription was not stored');
  return row;
}

/** The client's own subscription; another client's is not found. */
export async function findSubscription(db: Db, client: SystemClient, id: string): Promise<SubscriptionRow> {
  const [row] = isId(id)
    ? await db
        .select()
        .from(fhirSubscriptions)
        .where(and(eq(fhirSubscriptions.id, id), eq(fhirSubscriptions.apiClientId, client.id)))
    : [];
  if (!row) throw new FhirError(404, 'not-found', `Subscription/${id} is not known`);
  return row;
}

export async function endSubscription(db: Db, row: SubscriptionRow): Promise<SubscriptionRow> {
  const [ended] = await db.update(fhirSubscriptions).set({ status: 'off' }).where(eq(fhirSubscriptions.id, row.id)).returning();
  return ended ?? row;
}

export function toSubscription(row: SubscriptionRow, eventsUrl: string): Subscription {
  return {
    resourceType: 'Subscription',
    id: row.id,
    meta: { profile: [`${BACKPORT}/backport-subscription`] },
    status: row.status,
    reason: 'Follow visits as they arrive and change',
    criteria: ENCOUNTER_TOPIC,
    ...(row.patientId
      ? {
          _criteria: {
            extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: `Encounter?patient=Patient/${row.patientId}` }],
          },
        }
      : {}),
    channel: {
      // R4 has no channel type for a stream the client opens; the backport's extension names it.
      type: 'websocket',
      _type: { extension: [{ url: `${BACKPORT}/backport-channel-type`, valueCoding: SSE_CHANNEL }] },
      endpoint: eventsUrl,
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: row.content }] },
    },
  } as Subscription;
}

/** The visit as it was when this event happened: status, clinician and room then, not now. */
function encounterAt(entry: QueueEntry): Encounter {
  const ended = entry.status === 'done' || entry.status === 'left';
  return {
    resourceType: 'Encounter',
    id: entry.id,
    meta: { versionId: String(entry.version), lastUpdated: entry.statusChangedAt },
    status: encounterStatusOf[entry.status],
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
    subject: reference('Patient', entry.patientId, `${entry.firstName} ${entry.lastName}`),
    ...(entry.clinician
      ? {
          participant: [
            { individual: reference('Practitioner', entry.clinician.id, entry.clinician.name), period: { start: entry.statusChangedAt } },
          ],
        }
      : {}),
    period: ended ? { start: entry.arrivedAt, end: entry.statusChangedAt } : { start: entry.arrivedAt },
    ...(entry.room
      ? { location: [{ location: reference('Location', entry.room.id, entry.room.name), status: ended ? 'completed' : 'active' }] }
      : {}),
  };
}

function entryOf(event: LoggedEvent): QueueEntry | null {
  if (event.type !== 'queue.entry.added' && event.type !== 'queue.entry.updated') return null;
  return event.payload.entry;
}

/** How many of the subscription's events there were after its start, up to and including `uptoId`. */
async function eventsUpTo(db: Db, row: SubscriptionRow, uptoId: bigint): Promise<number> {
  if (uptoId <= row.startEventId) return 0;
  const [counted] = await db
    .select({ n: count() })
    .from(eventLog)
    .where(
      and(
        gt(eventLog.id, row.startEventId),
        lte(eventLog.id, uptoId),
        inArray(eventLog.type, [...ENCOUNTER_EVENTS]),
        row.patientId ? sql`${eventLog.payload}->'entry'->>'patientId' = ${row.patientId}` : undefined,
      ),
    );
  return counted?.n ?? 0;
}

function statusParameters(
  row: SubscriptionRow,
  type: 'handshake' | 'event-notification' | 'heartbeat',
  total: number,
  event?: { number: number; at: string; focus: string },
): Parameters {
  return {
    resourceType: 'Parameters',
    meta: { profile: [`${BACKPORT}/backport-subscription-status-r4`] },
    parameter: [
      { name: 'subscription', valueReference: { reference: `Subscription/${row.id}` } },
      { name: 'topic', valueCanonical: ENCOUNTER_TOPIC },
      { name: 'status', valueCode: row.status },
      { name: 'type', valueCode: type },
      { name: 'events-since-subscription-start', valueString: String(total) },
      ...(event
        ? [
            {
              name: 'notification-event',
              part: [
                { name: 'event-number', valueString: String(event.number) },
                { name: 'timestamp', valueInstant: event.at },
                { name: 'focus', valueReference: { reference: event.focus } },
              ],
            },
          ]
        : []),
    ],
  };
}

/** A notification Bundle as the backport's R4 profile has it: the status first, then the focus (full-resource). */
export function notificationBundle(
  row: SubscriptionRow,
  type: 'handshake' | 'event-notification' | 'heartbeat',
  total: number,
  event?: { number: number; at: string; encounter: Encounter },
): Bundle {
  const status: BundleEntry = {
    fullUrl: `urn:uuid:${crypto.randomUUID()}`,
    resource: statusParameters(
      row,
      type,
      total,
      event && { number: event.number, at: event.at, focus: `Encounter/${event.encounter.id ?? ''}` },
    ),
    request: { method: 'GET', url: `Subscription/${row.id}/$status` },
    response: { status: '200' },
  };
  const focus: BundleEntry[] =
    event && row.content === 'full-resource'
      ? [
          {
            fullUrl: `Encounter/${event.encounter.id ?? ''}`,
            resource: event.encounter,
            request: { method: 'PUT', url: `Encounter/${event.encounter.id ?? ''}` },
            response: { status: '200' },
          },
        ]
      : [];
  return { resourceType: 'Bundle', type: 'history', timestamp: new Date().toISOString(), entry: [status, ...focus] };
}

/**
 * The subscription's notifications after `lastEventId` (its start, without one), then live: every
 * matching event once and in order, numbered from the subscription's start, each with the event
 * log id a client resumes from. The same stream the dashboards read, so just as gapless.
 */
export async function* notifications(
  db: Db,
  hub: EventHub,
  row: SubscriptionRow,
  lastEventId: string | null,
  signal: AbortSignal,
): AsyncGenerator<{ id: string; bundle: Bundle }> {
  const requested = lastEventId !== null && /^\d{1,19}$/.test(lastEventId) ? BigInt(lastEventId) : row.startEventId;
  const from = requested < row.startEventId ? row.startEventId : requested;
  let number = await eventsUpTo(db, row, from);
  for await (const event of streamEvents(db, hub, from.toString(), signal)) {
    const entry = entryOf(event);
    if (!entry || (row.patientId !== null && entry.patientId !== row.patientId)) continue;
    number += 1;
    const bundle = notificationBundle(row, 'event-notification', number, {
      number,
      at: event.occurredAt.toISOString(),
      encounter: encounterAt(entry),
    });
    yield { id: event.id.toString(), bundle };
  }
}

/** How many notifications the subscription has had so far: for its handshake and heartbeats. */
export async function eventsSoFar(db: Db, row: SubscriptionRow): Promise<number> {
  return eventsUpTo(db, row, await headEventId(db));
}
