import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Phos } from '../app.js';
import { recordFhirAudit, type Reader } from '../fhir/access.js';
import {
  cancelExport,
  createExport,
  exportFilesOf,
  findExport,
  manifestOf,
  readExportFile,
  requesterOf,
  type ExportLevel,
} from '../fhir/export.js';
import { asFhirError, FhirError, operationOutcome } from '../fhir/outcome.js';
import { searchParamsOf } from '../fhir/search.js';
import { errorCode } from '../logging.js';
import { FHIR_BASE, readerOfRequest } from './fhir.js';

export interface FhirExportRouteOptions {
  services: Pick<Phos['services'], 'db' | 'sessionPolicy'>;
  /** Queues an export's job (`Phos.startFhirExport`). */
  startExport: (exportId: string) => Promise<void>;
  log: Logger;
}

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const NDJSON = 'application/fhir+ndjson';
/** How long a client is asked to wait between status polls. */
const RETRY_AFTER_SECONDS = 2;

function acceptsJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  if (accept === undefined || accept === '') return true;
  return /(^|,)\s*(\*\/\*|application\/\*|application\/(fhir\+)?json)\s*(;|,|$)/i.test(accept);
}

function headerOf(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function baseUrlOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}${FHIR_BASE}`;
}

function sendOutcome(reply: FastifyReply, status: number, outcome: OperationOutcome): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').type(FHIR_JSON).send(outcome);
}

const notFound = () => new FhirError(404, 'not-found', 'No export of yours has that id (it may have expired or been cancelled)');

/**
 * FHIR Bulk Data export (the Bulk Data Access IG, v2): kick-off at `$export` (system) and
 * `Patient/$export`, a status URL to poll, cancel with DELETE, and NDJSON files served to the
 * requester only until the export expires. The job runs on a worker (jobs/exports.ts); the
 * kick-off and each file download leave an audit row.
 */
export function registerFhirExportRoutes(
  app: FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>,
  options: FhirExportRouteOptions,
): void {
  const { services, log, startExport } = options;
  const { db } = services;

  /** Runs one interaction; errors become OperationOutcomes, and refusals (401, 403) get an audit row when `action` is set. */
  async function handle(
    request: FastifyRequest,
    reply: FastifyReply,
    action: string | null,
    work: (reader: Reader) => Promise<FastifyReply>,
    answersJson = true,
  ): Promise<FastifyReply> {
    let reader: Reader | null = null;
    try {
      if (answersJson && !acceptsJson(request)) {
        throw new FhirError(406, 'not-supported', 'Phos answers in application/fhir+json only');
      }
      reader = await readerOfRequest(services, request);
      return await work(reader);
    } catch (error) {
      const failure = asFhirError(error);
      if (!(error instanceof FhirError)) log.warn({ code: errorCode(error), requestId: request.id }, 'FHIR export interaction failed');
      if (action && (failure.status === 401 || failure.status === 403)) {
        await recordFhirAudit(
          db,
          reader,
          { ip: request.ip, requestId: request.id },
          { action, outcome: 'refused', detail: { reason: failure.code } },
        ).catch((auditError: unknown) => {
          log.error({ code: errorCode(auditError), requestId: request.id }, 'could not record a refused FHIR export in the audit trail');
        });
      }
      if (failure.status === 401) void reply.header('www-authenticate', 'Bearer realm="phos"');
      return sendOutcome(reply, failure.status, operationOutcome(failure.code, failure.diagnostics));
    }
  }

  function kickOff(request: FastifyRequest, reply: FastifyReply, level: ExportLevel) {
    return handle(request, reply, 'fhir.export', async (reader) => {
      const params = searchParamsOf(request.query as Record<string, string | string[]>);
      const row = await db.transaction(async (tx) => {
        const created = await createExport(tx, reader, level, params, headerOf(request, 'prefer'));
        const detail = {
          exportId: created.id,
          level,
          types: created.types.join(','),
          ...(created.since ? { since: created.since.toISOString() } : {}),
        };
        await recordFhirAudit(tx, reader, { ip: request.ip, requestId: request.id }, { action: 'fhir.export', outcome: 'allowed', detail });
        return created;
      });
      // Committed first: should Redis be away now, the sweep queues a pending export's job later.
      await startExport(row.id).catch((error: unknown) => {
        log.warn({ code: errorCode(error), exportId: row.id, requestId: request.id }, 'could not queue a FHIR export; the sweep will');
      });
      return sendOutcome(
        reply.header('content-location', `${baseUrlOf(request)}/$export-status/${row.id}`),
        202,
        operationOutcome('informational', `Export ${row.id} accepted; poll the Content-Location for its status`, 'information'),
      );
    });
  }

  app.get(`${FHIR_BASE}/$export`, (request, reply) => kickOff(request, reply, 'system'));
  app.get(`${FHIR_BASE}/Patient/$export`, (request, reply) => kickOff(request, reply, 'patient'));

  app.get<{ Params: { id: string } }>(`${FHIR_BASE}/$export-status/:id`, (request, reply) =>
    handle(request, reply, null, async (reader) => {
      const row = await findExport(db, request.params.id, requesterOf(reader));
      if (!row) throw notFound();
      void reply.header('cache-control', 'no-store');
      switch (row.status) {
        case 'pending':
        case 'running':
          return reply
            .code(202)
            .header('x-progress', row.status === 'pending' ? 'queued' : `exporting ${row.types.join(', ')}`)
            .header('retry-after', String(RETRY_AFTER_SECONDS))
            .send();
        case 'complete': {
          const files = await exportFilesOf(db, row);
          return reply
            .code(200)
            .header('expires', row.expiresAt.toUTCString())
            .type('application/json; charset=utf-8')
            .send(manifestOf(row, files, baseUrlOf(request)));
        }
        case 'failed':
          return sendOutcome(reply, 500, operationOutcome('exception', row.error ?? 'The export failed'));
        case 'cancelled':
          throw notFound();
      }
    }),
  );

  app.delete<{ Params: { id: string } }>(`${FHIR_BASE}/$export-status/:id`, (request, reply) =>
    handle(request, reply, null, async (reader) => {
      if (!(await cancelExport(db, request.params.id, requesterOf(reader)))) throw notFound();
      return sendOutcome(
        reply,
        202,
        operationOutcome('informational', `Export ${request.params.id} cancelled; its files are deleted`, 'information'),
      );
    }),
  );

  app.get<{ Params: { id: string; file: string } }>(`${FHIR_BASE}/$export-file/:id/:file`, (request, reply) =>
    handle(
      request,
      reply,
      'fhir.export-file',
      async (reader) => {
        const file = await readExportFile(db, request.params.id, requesterOf(reader), request.params.file);
        if (!file) throw new FhirError(404, 'not-found', 'No such file in an export of yours (it may have expired)');
        // Each download is a read of every patient in the file: recorded before the data leaves.
        await recordFhirAudit(
          db,
          reader,
          { ip: request.ip, requestId: request.id },
          {
            action: 'fhir.export-file',
            outcome: 'allowed',
            detail: { exportId: file.exportId, resourceType: file.type, file: file.index, count: file.count },
            patientIds: file.patientIds,
          },
        );
        return reply.code(200).header('cache-control', 'no-store').type(NDJSON).send(file.ndjson);
      },
      false,
    ),
  );
}
