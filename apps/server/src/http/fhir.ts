import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bundle, BundleLink, Patient, Resource } from '@medplum/fhirtypes';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Phos } from '../app.js';
import { readerForUser, recordFhirAudit, restrictionFor, type Reader, type SystemClient } from '../fhir/access.js';
import { capabilityStatement } from '../fhir/capability.js';
import { asFhirError, FhirError, operationOutcome } from '../fhir/outcome.js';
import { isResourceType, readResource, searchResources, type ResourceType, type SearchPage } from '../fhir/resources.js';
import { isId, searchParamsOf, type SearchParams } from '../fhir/search.js';
import {
  parseBundle,
  parseIfNoneExist,
  parsePatient,
  patientsOfRegistrations,
  registrationsOfBatch,
  submitPatients,
  type Submission,
  type Submitted,
} from '../fhir/submit.js';
import {
  createSubscription,
  endSubscription,
  eventsSoFar,
  findSubscription,
  notificationBundle,
  notifications,
  toSubscription,
} from '../fhir/subscriptions.js';
import { authenticateApiClient, scopesAllow } from '../identity/apiClients.js';
import { resolveSession, sessionCookieName } from '../identity/sessions.js';
import { errorCode } from '../logging.js';

export const FHIR_BASE = '/fhir/R4';
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export interface FhirRouteOptions {
  services: Pick<Phos['services'], 'db' | 'sessionPolicy' | 'kickRelay' | 'hub'>;
  log: Logger;
}

/** The system client a bearer token belongs to (an Admin's API client), or null when it is unknown, revoked or expired. */
async function systemClientOf(db: Phos['services']['db'], token: string): Promise<SystemClient | null> {
  const principal = await authenticateApiClient(db, token);
  if (!principal) return null;
  return { ...principal, allows: (type, permission) => scopesAllow(principal.scopes, type, permission) };
}

/** What an interaction answers, and what its audit row says besides who and when. */
interface Answer {
  body: Resource;
  detail: Record<string, string | number>;
  patientIds: readonly string[];
  status?: number;
  headers?: Record<string, string>;
}

/** How long a create waits for the worker to make the patient before answering 202 with a status URL. */
const CREATE_WAIT_MS = 2_000;

/** What a client that sent `Accept` will take: FHIR JSON, plain JSON, or anything. */
function acceptsJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  if (accept === undefined || accept === '') return true;
  return /(^|,)\s*(\*\/\*|application\/\*|application\/(fhir\+)?json)\s*(;|,|$)/i.test(accept);
}

function send(reply: FastifyReply, status: number, body: Resource): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').type(FHIR_JSON).send(body);
}

/** The server's base as the client reached it (through trusted proxies), for fullUrls and links. */
function baseUrlOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}${FHIR_BASE}`;
}

function searchBundle(request: FastifyRequest, type: ResourceType, params: SearchParams, page: SearchPage): Bundle {
  const base = baseUrlOf(request);
  const linkTo = (offset: number) => {
    const query = new URLSearchParams();
    for (const [name, values] of params) if (name !== '_offset' && name !== '_count') for (const value of values) query.append(name, value);
    query.set('_count', String(page.count));
    query.set('_offset', String(offset));
    return `${base}/${type}?${query.toString()}`;
  };
  const link: BundleLink[] = [
    { relation: 'self', url: linkTo(page.offset) },
    { relation: 'first', url: linkTo(0) },
  ];
  if (page.offset + page.count < page.total) link.push({ relation: 'next', url: linkTo(page.offset + page.count) });
  if (page.offset > 0) link.push({ relation: 'previous', url: linkTo(Math.max(0, page.offset - page.count)) });
  const entry = (resource: Resource, mode: 'match' | 'include') => ({
    fullUrl: `${base}/${resource.resourceType}/${resource.id ?? ''}`,
    resource,
    search: { mode },
  });
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: page.total,
    link,
    entry: [...page.resources.map((resource) => entry(resource, 'match')), ...page.included.map((resource) => entry(resource, 'include'))],
  };
}

/** Each entry's result: the patient made of it, where to read it, and whether this request made it. */
function responseBundle(
  type: 'transaction-response' | 'batch-response',
  registrations: readonly string[],
  made: ReadonlyMap<string, Patient>,
  request: FastifyRequest,
  submitted?: readonly Submitted[],
): Bundle {
  const base = baseUrlOf(request);
  return {
    resourceType: 'Bundle',
    type,
    entry: registrations.map((registrationId, index) => {
      const patient = made.get(registrationId);
      const created = submitted ? submitted[index]?.created !== false : true;
      return {
        fullUrl: `${base}/Patient/${patient?.id ?? ''}`,
        resource: patient,
        response: { status: created ? '201 Created' : '200 OK', location: `Patient/${patient?.id ?? ''}` },
      };
    }),
  };
}

/** How often a subscription stream sends a heartbeat Bundle, and checks that its client's token still works. */
const HEARTBEAT_MS = 20_000;
const TOKEN_RECHECK_MS = 30_000;

function sseBlock(fields: { event?: string; data?: string; id?: string; retry?: number }): string {
  let text = '';
  if (fields.retry !== undefined) text += `retry: ${fields.retry}\n`;
  if (fields.event !== undefined) text += `event: ${fields.event}\n`;
  if (fields.data !== undefined) text += `data: ${fields.data}\n`;
  if (fields.id !== undefined) text += `id: ${fields.id}\n`;
  return `${text}\n`;
}

/** The open subscription streams of this instance, by subscription: ended when it is deleted or the server stops. */
function openStreams() {
  const open = new Map<string, Set<AbortController>>();
  return {
    add(id: string, controller: AbortController): () => void {
      const set = open.get(id) ?? new Set();
      set.add(controller);
      open.set(id, set);
      return () => {
        set.delete(controller);
        if (set.size === 0) open.delete(id);
      };
    },
    end(id: string) {
      for (const controller of open.get(id) ?? []) controller.abort();
    },
    endAll() {
      for (const set of open.values()) for (const controller of set) controller.abort();
    },
  };
}

function headerOf(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Who is calling: a system client by its bearer token, or the web session's user; 401 otherwise. */
export async function readerOfRequest(services: Pick<Phos['services'], 'db' | 'sessionPolicy'>, request: FastifyRequest): Promise<Reader> {
  const { db, sessionPolicy } = services;
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
    const client = token ? await systemClientOf(db, token) : null;
    if (!client) throw new FhirError(401, 'login', 'The bearer token is not valid (unknown, revoked or expired)');
    return { kind: 'system', client };
  }
  const cookie = request.cookies[sessionCookieName(request.protocol === 'https')];
  const resolved = cookie ? await resolveSession(db, cookie, sessionPolicy, { renew: true }) : null;
  if (!resolved) throw new FhirError(401, 'login', 'Sign in, or send a system client bearer token');
  return readerForUser(db, resolved.user);
}

/**
 * FHIR R4 over HTTP, JSON only: the CapabilityStatement, read and search (GET, or POST to
 * `_search` so names and dates stay out of URLs), for a web session or a system client's bearer
 * token. Each read or search is audited like the web app's, refusals included; errors are
 * OperationOutcomes with their HTTP status.
 */
export async function registerFhirRoutes(
  app: FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>,
  options: FhirRouteOptions,
): Promise<void> {
  const { log } = options;
  const { db } = options.services;
  const readerOf = (request: FastifyRequest) => readerOfRequest(options.services, request);

  const audit = (
    request: FastifyRequest,
    reader: Reader | null,
    action: string,
    outcome: 'allowed' | 'refused',
    detail: Record<string, string | number>,
    patientIds: readonly string[] = [],
  ) => recordFhirAudit(db, reader, { ip: request.ip, requestId: request.id }, { action, outcome, detail, patientIds });

  async function answer(
    request: FastifyRequest,
    reply: FastifyReply,
    action: 'fhir.read' | 'fhir.search' | 'fhir.create' | 'fhir.subscribe',
    work: (reader: Reader) => Promise<Answer>,
    about: Record<string, string>,
  ) {
    let reader: Reader | null = null;
    try {
      if (!acceptsJson(request)) throw new FhirError(406, 'not-supported', 'Phos answers in application/fhir+json only');
      reader = await readerOf(request);
      const { body, detail, patientIds, status = 200, headers = {} } = await work(reader);
      await audit(request, reader, action, 'allowed', { ...about, ...detail }, patientIds);
      return await send(reply.headers(headers), status, body);
    } catch (error) {
      const failure = asFhirError(error);
      if (!(error instanceof FhirError)) log.warn({ code: errorCode(error), requestId: request.id }, 'FHIR interaction failed');
      if (failure.status === 401 || failure.status === 403) {
        await audit(request, reader, action, 'refused', { ...about, reason: failure.code }).catch((auditError: unknown) => {
          log.error({ err: auditError, requestId: request.id }, 'could not record a refused FHIR call in the audit trail');
        });
      }
      if (failure.status === 500) log.error({ err: error, requestId: request.id }, 'FHIR interaction failed unexpectedly');
      if (failure.status === 401) void reply.header('www-authenticate', 'Bearer realm="phos"');
      return send(reply, failure.status, operationOutcome(failure.code, failure.diagnostics));
    }
  }

  function typeOf(raw: string): ResourceType {
    if (!isResourceType(raw)) throw new FhirError(404, 'not-supported', `Phos does not serve ${raw.slice(0, 40)} resources`);
    return raw;
  }

  /** Creating patients is for system clients with `Patient.c`; a person registers in the web app. */
  function creatorOf(reader: Reader): SystemClient {
    if (reader.kind !== 'system')
      throw new FhirError(403, 'forbidden', 'Patients are sent by system clients; people register in the web app');
    if (!reader.client.allows('Patient', 'c')) throw new FhirError(403, 'forbidden', "This client's scopes do not allow creating Patient");
    return reader.client;
  }

  async function createAnswer(
    request: FastifyRequest,
    client: SystemClient,
    submissions: readonly Submission[],
    bundleId: string | null,
    single: boolean,
  ): Promise<Answer> {
    const { batchId, submitted } = await db.transaction((tx) =>
      submitPatients(tx, client, submissions, { bundleId, requestId: request.id }),
    );
    options.services.kickRelay();
    const registrations = submitted.map((entry) => entry.registrationId);
    const made = await waitForPatients(registrations);
    const created = submitted.filter((entry) => entry.created).length;
    const patientIds = [...made.values()].flatMap((patient) => (patient.id ? [patient.id] : []));
    const detail = { batchId, entries: submitted.length, created };
    const base = baseUrlOf(request);
    if (made.size < registrations.length) {
      const message = `Accepted ${submitted.length} patient${submitted.length === 1 ? '' : 's'}; poll the status URL for the result`;
      return {
        status: 202,
        headers: { 'content-location': `${base}/$submission/${batchId}` },
        body: operationOutcome('informational', message, 'information'),
        detail,
        patientIds,
      };
    }
    if (single) {
      const [entry] = submitted;
      const patient = entry ? made.get(entry.registrationId) : undefined;
      if (!entry || !patient?.id) throw new FhirError(500, 'exception', 'The patient was made but cannot be read back');
      return {
        status: entry.created ? 201 : 200,
        headers: { location: `${base}/Patient/${patient.id}` },
        body: patient,
        detail,
        patientIds,
      };
    }
    return { body: responseBundle('transaction-response', registrations, made, request, submitted), detail, patientIds };
  }

  /** The patients the worker has made of these registrations, waiting up to CREATE_WAIT_MS for all of them. */
  async function waitForPatients(registrations: readonly string[]): Promise<Map<string, Patient>> {
    const deadline = Date.now() + CREATE_WAIT_MS;
    for (;;) {
      const made = await patientsOfRegistrations(db, registrations);
      if (made.size === registrations.length || Date.now() >= deadline) return made;
      await sleep(100);
    }
  }

  /** Following visits is for system clients allowed to search Encounters. */
  function followerOf(reader: Reader): SystemClient {
    if (reader.kind !== 'system') throw new FhirError(403, 'forbidden', 'Subscriptions are for system clients');
    if (!reader.client.allows('Encounter', 's'))
      throw new FhirError(403, 'forbidden', "This client's scopes do not allow searching Encounter");
    return reader.client;
  }

  const streams = openStreams();
  // Before the server stops: every open stream ends, and its client resumes (Last-Event-ID) elsewhere.
  app.addHook('preClose', (done) => {
    streams.endAll();
    done();
  });

  /**
   * The subscription's notifications as server-sent events: a handshake, then every visit change
   * in order, each with its event id to resume from (`Last-Event-ID`), and a heartbeat Bundle
   * every HEARTBEAT_MS. Ends when the client leaves, the subscription is deleted, its client's
   * token stops working (checked every TOKEN_RECHECK_MS), or the server shuts down.
   */
  async function followSubscription(request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) {
    let reader: Reader | null = null;
    let row: Awaited<ReturnType<typeof findSubscription>>;
    try {
      reader = await readerOf(request);
      row = await findSubscription(db, followerOf(reader), request.params.id);
      if (row.status !== 'active') throw new FhirError(410, 'deleted', `Subscription/${row.id} has ended`);
      await audit(
        request,
        reader,
        'fhir.subscribe',
        'allowed',
        { subscriptionId: row.id, stream: 1 },
        row.patientId ? [row.patientId] : [],
      );
    } catch (error) {
      const failure = asFhirError(error);
      if (failure.status === 401 || failure.status === 403) {
        await audit(request, reader, 'fhir.subscribe', 'refused', {
          subscriptionId: request.params.id.slice(0, 64),
          reason: failure.code,
        }).catch((auditError: unknown) =>
          log.error({ err: auditError, requestId: request.id }, 'could not record a refused FHIR call in the audit trail'),
        );
      }
      return send(reply, failure.status, operationOutcome(failure.code, failure.diagnostics));
    }

    const controller = new AbortController();
    const { signal } = controller;
    const end = streams.add(row.id, controller);
    const res = reply.hijack().raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const closed = new Promise<void>((resolve) => res.once('close', resolve));
    void closed.then(() => controller.abort());
    const write = async (text: string) => {
      if (signal.aborted) return;
      if (!res.write(text)) await Promise.race([once(res, 'drain'), closed]);
    };
    const lastEventId = headerOf(request, 'last-event-id') ?? null;
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    const heartbeat = setInterval(() => {
      void eventsSoFar(db, row)
        .then((total) => write(sseBlock({ event: 'heartbeat', data: JSON.stringify(notificationBundle(row, 'heartbeat', total)) })))
        .catch(() => undefined);
    }, HEARTBEAT_MS);
    const recheck = setInterval(() => {
      void (token ? systemClientOf(db, token) : Promise.resolve(null))
        .then((client) => {
          if (!client) controller.abort();
        })
        .catch(() => undefined);
    }, TOKEN_RECHECK_MS);
    try {
      await write(sseBlock({ retry: 2000 }));
      const total = await eventsSoFar(db, row);
      await write(sseBlock({ event: 'handshake', data: JSON.stringify(notificationBundle(row, 'handshake', total)) }));
      for await (const { id, bundle } of notifications(db, options.services.hub, row, lastEventId, signal)) {
        await write(sseBlock({ id, event: 'notification', data: JSON.stringify(bundle) }));
      }
    } catch (error) {
      if (!signal.aborted)
        log.warn(
          { code: errorCode(error), subscriptionId: row.id },
          'a FHIR subscription stream failed; the client resumes from its last event id',
        );
    } finally {
      clearInterval(heartbeat);
      clearInterval(recheck);
      end();
      res.end();
    }
  }

  await app.register(
    (fhir, _options, ready) => {
      // `_search` takes its parameters as a form, as FHIR says; nothing else here takes a body yet.
      fhir.addContentTypeParser(
        'application/x-www-form-urlencoded',
        { parseAs: 'string', bodyLimit: 64 * 1024 },
        (_request, body, done) => {
          done(null, new URLSearchParams(String(body)));
        },
      );

      fhir.addContentTypeParser(['application/fhir+json'], { parseAs: 'string', bodyLimit: 4 * 1024 * 1024 }, (_request, body, done) => {
        try {
          done(null, JSON.parse(String(body)) as unknown);
        } catch {
          done(new FhirError(400, 'structure', 'The body is not JSON'), undefined);
        }
      });

      fhir.get('/metadata', async (request, reply) => {
        if (!acceptsJson(request)) return send(reply, 406, operationOutcome('not-supported', 'Phos answers in application/fhir+json only'));
        return send(reply, 200, capabilityStatement(baseUrlOf(request), new Date().toISOString()));
      });

      fhir.get<{ Params: { type: string; id: string } }>('/:type/:id', (request, reply) =>
        answer(
          request,
          reply,
          'fhir.read',
          async (reader) => {
            const type = typeOf(request.params.type);
            const { resource, patientIds } = await readResource(db, type, request.params.id, restrictionFor(reader, type, 'r'));
            return { body: resource, detail: {}, patientIds };
          },
          { resourceType: request.params.type.slice(0, 40), id: request.params.id.slice(0, 64) },
        ),
      );

      const search = (request: FastifyRequest<{ Params: { type: string } }>, reply: FastifyReply, params: SearchParams) =>
        answer(
          request,
          reply,
          'fhir.search',
          async (reader) => {
            const type = typeOf(request.params.type);
            const page = await searchResources(db, type, params, restrictionFor(reader, type, 's'));
            const patientIds = [
              ...new Set([
                ...page.patientIds,
                ...page.included.flatMap((resource) => (resource.resourceType === 'Patient' && resource.id ? [resource.id] : [])),
              ]),
            ];
            return { body: searchBundle(request, type, params, page), detail: { total: page.total }, patientIds };
          },
          { resourceType: request.params.type.slice(0, 40) },
        );

      fhir.get<{ Params: { type: string } }>('/:type', (request, reply) =>
        search(request, reply, searchParamsOf(request.query as Record<string, string | string[]>)),
      );
      fhir.post<{ Params: { type: string } }>('/:type/_search', (request, reply) => {
        const body = request.body instanceof URLSearchParams ? request.body : new URLSearchParams();
        const query = searchParamsOf(request.query as Record<string, string | string[]>);
        const merged = new Map(query);
        for (const [name, values] of searchParamsOf(body)) merged.set(name, [...(merged.get(name) ?? []), ...values]);
        return search(request, reply, merged);
      });

      // Patients in: each goes through the outbox to the registration worker, as a walk-in does.
      fhir.post('/Patient', (request, reply) =>
        answer(
          request,
          reply,
          'fhir.create',
          async (reader) => {
            const client = creatorOf(reader);
            const submission = parsePatient(request.body);
            const condition = parseIfNoneExist(headerOf(request, 'if-none-exist'));
            return createAnswer(request, client, [condition ? { ...submission, identifier: condition } : submission], null, true);
          },
          { resourceType: 'Patient' },
        ),
      );
      fhir.post('/', (request, reply) =>
        answer(
          request,
          reply,
          'fhir.create',
          async (reader) => {
            const client = creatorOf(reader);
            const { bundleId, entries } = parseBundle(request.body);
            return createAnswer(request, client, entries, bundleId, false);
          },
          { resourceType: 'Bundle' },
        ),
      );
      fhir.get<{ Params: { batchId: string } }>('/$submission/:batchId', (request, reply) =>
        answer(
          request,
          reply,
          'fhir.read',
          async (reader) => {
            const client = creatorOf(reader);
            const registrations = isId(request.params.batchId) ? await registrationsOfBatch(db, client, request.params.batchId) : [];
            if (registrations.length === 0) throw new FhirError(404, 'not-found', 'No submission of this client has that id');
            const made = await patientsOfRegistrations(db, registrations);
            const patientIds = [...made.values()].flatMap((patient) => (patient.id ? [patient.id] : []));
            if (made.size < registrations.length) {
              const progress = `${made.size} of ${registrations.length} patients created`;
              return {
                status: 202,
                headers: { 'x-progress': progress },
                body: operationOutcome('informational', progress, 'information'),
                detail: { batchId: request.params.batchId },
                patientIds,
              };
            }
            return {
              body: responseBundle('batch-response', registrations, made, request),
              detail: { batchId: request.params.batchId },
              patientIds,
            };
          },
          { resourceType: 'Patient' },
        ),
      );

      // Topic-based subscriptions (R4 backport): a system client follows visits over server-sent events.
      fhir.post('/Subscription', (request, reply) =>
        answer(
          request,
          reply,
          'fhir.subscribe',
          async (reader) => {
            const client = followerOf(reader);
            const row = await createSubscription(db, client, request.body);
            const url = `${baseUrlOf(request)}/Subscription/${row.id}`;
            return {
              status: 201,
              headers: { location: url },
              body: toSubscription(row, `${url}/$events`),
              detail: { subscriptionId: row.id },
              patientIds: row.patientId ? [row.patientId] : [],
            };
          },
          { resourceType: 'Subscription' },
        ),
      );
      fhir.get<{ Params: { id: string } }>('/Subscription/:id', (request, reply) =>
        answer(
          request,
          reply,
          'fhir.read',
          async (reader) => {
            const row = await findSubscription(db, followerOf(reader), request.params.id);
            const url = `${baseUrlOf(request)}/Subscription/${row.id}`;
            return { body: toSubscription(row, `${url}/$events`), detail: { subscriptionId: row.id }, patientIds: [] };
          },
          { resourceType: 'Subscription', id: request.params.id.slice(0, 64) },
        ),
      );
      fhir.delete<{ Params: { id: string } }>('/Subscription/:id', (request, reply) =>
        answer(
          request,
          reply,
          'fhir.subscribe',
          async (reader) => {
            const row = await endSubscription(db, await findSubscription(db, followerOf(reader), request.params.id));
            streams.end(row.id);
            const url = `${baseUrlOf(request)}/Subscription/${row.id}`;
            return { body: toSubscription(row, `${url}/$events`), detail: { subscriptionId: row.id, ended: 1 }, patientIds: [] };
          },
          { resourceType: 'Subscription', id: request.params.id.slice(0, 64) },
        ),
      );
      fhir.get<{ Params: { id: string } }>('/Subscription/:id/$events', (request, reply) => followSubscription(request, reply));

      fhir.setNotFoundHandler((request, reply) =>
        send(reply, 404, operationOutcome('not-supported', `${request.method} ${request.url.split('?')[0] ?? ''} is not supported`)),
      );
      ready();
    },
    { prefix: FHIR_BASE },
  );
}
