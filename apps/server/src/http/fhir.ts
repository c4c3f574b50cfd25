import type { Bundle, BundleLink, Resource } from '@medplum/fhirtypes';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Phos } from '../app.js';
import { readerForUser, recordFhirAudit, restrictionFor, type Reader, type SystemClient } from '../fhir/access.js';
import { capabilityStatement } from '../fhir/capability.js';
import { asFhirError, FhirError, operationOutcome } from '../fhir/outcome.js';
import { isResourceType, readResource, searchResources, type ResourceType, type SearchPage } from '../fhir/resources.js';
import { searchParamsOf, type SearchParams } from '../fhir/search.js';
import { resolveSession, sessionCookieName } from '../identity/sessions.js';
import { errorCode } from '../logging.js';

export const FHIR_BASE = '/fhir/R4';
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export interface FhirRouteOptions {
  services: Pick<Phos['services'], 'db' | 'sessionPolicy'>;
  log: Logger;
  /** The system client a bearer token belongs to, or null when it is unknown, revoked or expired. */
  authenticateClient?: ((token: string) => Promise<SystemClient | null>) | undefined;
}

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
  const { db, sessionPolicy } = options.services;

  async function readerOf(request: FastifyRequest): Promise<Reader> {
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
      const client = token && options.authenticateClient ? await options.authenticateClient(token) : null;
      if (!client) throw new FhirError(401, 'login', 'The bearer token is not valid (unknown, revoked or expired)');
      return { kind: 'system', client };
    }
    const cookie = request.cookies[sessionCookieName(request.protocol === 'https')];
    const resolved = cookie ? await resolveSession(db, cookie, sessionPolicy, { renew: true }) : null;
    if (!resolved) throw new FhirError(401, 'login', 'Sign in, or send a system client bearer token');
    return readerForUser(db, resolved.user);
  }

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
    action: 'fhir.read' | 'fhir.search',
    work: (reader: Reader) => Promise<{ body: Resource; detail: Record<string, string | number>; patientIds: readonly string[] }>,
    about: Record<string, string>,
  ) {
    let reader: Reader | null = null;
    try {
      if (!acceptsJson(request)) throw new FhirError(406, 'not-supported', 'Phos answers in application/fhir+json only');
      reader = await readerOf(request);
      const { body, detail, patientIds } = await work(reader);
      await audit(request, reader, action, 'allowed', { ...about, ...detail }, patientIds);
      return await send(reply, 200, body);
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

      fhir.setNotFoundHandler((request, reply) =>
        send(reply, 404, operationOutcome('not-supported', `${request.method} ${request.url.split('?')[0] ?? ''} is not supported`)),
      );
      ready();
    },
    { prefix: FHIR_BASE },
  );
}
