import type { Resource } from '@medplum/fhirtypes';
import { and, asc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { findActiveApiClient, scopesAllow } from '../identity/apiClients.js';
import { findActiveUserById } from '../identity/users.js';
import { readerForUser, restrictionFor, type Reader, type SystemClient } from './access.js';
import { badParameter, FhirError, forbidden } from './outcome.js';
import { isResourceType, resourceTypes, searchResources, type ResourceType } from './resources.js';
import { fhirExportFiles, fhirExports, type FhirExportStatus } from './schema.js';
import { MAX_COUNT, type SearchParams } from './search.js';

/** How long a finished export's files are served, and how long an unfinished one may wait for its job. */
export const EXPORT_RETENTION_MS = 60 * 60_000;
/** Resources per NDJSON file: a file stays one row a download can send whole. */
export const DEFAULT_RESOURCES_PER_FILE = 1000;
/** Unfinished exports one requester may have at once; more is 429. */
const MAX_ACTIVE_EXPORTS = 3;

/** `_outputFormat` values that all mean FHIR NDJSON (a `+` left unencoded in a query reads as a space). */
const ndjsonFormats = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson', 'application/fhir ndjson']);
/** Types in the Patient compartment: what `Patient/$export` covers. AuditEvent is left out (see ADR 019). */
export const patientCompartmentTypes: readonly ResourceType[] = ['Patient', 'Encounter', 'Observation', 'CarePlan', 'Provenance'];
const kickOffParameters = new Set(['_type', '_since', '_outputFormat']);

export type ExportLevel = 'system' | 'patient';
export type ExportRow = typeof fhirExports.$inferSelect;

/** Who an export belongs to: the only one who may poll it, download it or cancel it. */
export interface Requester {
  kind: 'user' | 'client';
  id: string;
}

export function requesterOf(reader: Reader): Requester {
  switch (reader.kind) {
    case 'system':
      return { kind: 'client', id: reader.client.id };
    case 'staff':
      return { kind: 'user', id: reader.user.id };
    case 'patient':
      throw forbidden('Bulk export is for staff and system clients');
  }
}

/** The `Prefer` header's preferences, lower-cased: `respond-async`, `handling=lenient`, … */
function preferencesOf(prefer: string | undefined): Set<string> {
  return new Set(
    (prefer ?? '')
      .split(/[,;]/)
      .map((part) =>
        part
          .trim()
          .toLowerCase()
          .replace(/\s*=\s*/, '='),
      )
      .filter((part) => part !== ''),
  );
}

/** A FHIR instant: a full date-time with seconds and a zone. */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

interface KickOff {
  types: ResourceType[];
  since: Date | null;
  outputFormat: string | null;
}

/**
 * Checks a kick-off request as the Bulk Data IG asks: `Prefer: respond-async` required, NDJSON
 * only, `_type` and `_since` understood; any other parameter is refused unless the client sent
 * `Prefer: handling=lenient`, when it is ignored. The types are those asked for, or every type
 * the reader may search when `_type` is absent.
 */
export function parseKickOff(reader: Reader, level: ExportLevel, params: SearchParams, prefer: string | undefined): KickOff {
  const preferences = preferencesOf(prefer);
  if (!preferences.has('respond-async')) throw badParameter('A bulk export needs the header `Prefer: respond-async`');
  const lenient = preferences.has('handling=lenient');
  for (const name of params.keys()) {
    if (!kickOffParameters.has(name) && !lenient) {
      throw badParameter(
        `$export does not support the parameter '${name.slice(0, 40)}' (send Prefer: handling=lenient to have it ignored)`,
      );
    }
  }
  const formats = params.get('_outputFormat') ?? [];
  if (formats.length > 1) throw badParameter(`'_outputFormat' may be given once`);
  const [outputFormat = null] = formats;
  if (outputFormat !== null && !ndjsonFormats.has(outputFormat.trim().toLowerCase())) {
    throw badParameter(`_outputFormat must be application/fhir+ndjson (or application/ndjson, ndjson)`);
  }
  const sinceValues = params.get('_since') ?? [];
  if (sinceValues.length > 1) throw badParameter(`'_since' may be given once`);
  const [sinceText] = sinceValues;
  let since: Date | null = null;
  if (sinceText !== undefined) {
    since = INSTANT.test(sinceText) ? new Date(sinceText) : null;
    if (since === null || Number.isNaN(since.getTime())) throw badParameter(`'_since' must be a FHIR instant, e.g. 2026-11-24T08:00:00Z`);
  }
  const allowed = level === 'patient' ? patientCompartmentTypes : resourceTypes;
  const asked = (params.get('_type') ?? []).flatMap((value) => value.split(',').map((type) => type.trim()));
  let types: ResourceType[];
  if (asked.length > 0) {
    types = [];
    for (const type of asked) {
      if (!isResourceType(type)) throw badParameter(`Phos does not export ${type.slice(0, 40) || 'an empty type'} resources`);
      if (!allowed.includes(type)) throw badParameter(`${type} is not in the Patient compartment; export it with the system-level $export`);
      if (!types.includes(type)) types.push(type);
    }
    // Each type asked for must be one the reader may search: a refusal, not a silently shorter export.
    for (const type of types) restrictionFor(reader, type, 's');
  } else {
    types = allowed.filter((type) => {
      try {
        restrictionFor(reader, type, 's');
        return true;
      } catch (error) {
        if (error instanceof FhirError && error.status === 403) return false;
        throw error;
      }
    });
    if (types.length === 0) throw forbidden('No resource type this reader may export');
  }
  return { types, since, outputFormat: outputFormat === null ? null : 'application/fhir+ndjson' };
}

/** The kick-off as Phos understood it, rebuilt from what it took: safe to store and to show in the manifest. */
function requestPathOf(level: ExportLevel, kickOff: KickOff, asked: boolean): string {
  const query = new URLSearchParams();
  if (asked) query.set('_type', kickOff.types.join(','));
  if (kickOff.since) query.set('_since', kickOff.since.toISOString());
  if (kickOff.outputFormat) query.set('_outputFormat', kickOff.outputFormat);
  const path = level === 'patient' ? '/Patient/$export' : '/$export';
  const search = query.toString();
  return search === '' ? path : `${path}?${search}`;
}

/** Records an export for its job to run. 429 when the requester already has enough unfinished. */
export async function createExport(db: Db, reader: Reader, level: ExportLevel, params: SearchParams, prefer: string | undefined) {
  const requester = requesterOf(reader);
  const kickOff = parseKickOff(reader, level, params, prefer);
  const active = await db
    .select({ id: fhirExports.id })
    .from(fhirExports)
    .where(
      and(
        eq(fhirExports.requesterKind, requester.kind),
        eq(fhirExports.requesterId, requester.id),
        inArray(fhirExports.status, ['pending', 'running']),
        sql`${fhirExports.expiresAt} > now()`,
      ),
    );
  if (active.length >= MAX_ACTIVE_EXPORTS) {
    throw new FhirError(429, 'throttled', `At most ${MAX_ACTIVE_EXPORTS} exports may run at once; wait for one to finish or cancel one`);
  }
  const [row] = await db
    .insert(fhirExports)
    .values({
      requesterKind: requester.kind,
      requesterId: requester.id,
      level,
      request: requestPathOf(level, kickOff, params.has('_type')),
      types: kickOff.types,
      since: kickOff.since,
      expiresAt: new Date(Date.now() + EXPORT_RETENTION_MS),
    })
    .returning();
  if (!row) throw new Error('export insert returned no row');
  return row;
}

/** Undoes a kick-off whose job could not be queued. */
export async function forgetExport(db: Db, id: string): Promise<void> {
  await db.delete(fhirExports).where(eq(fhirExports.id, id));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The requester's own export while it lives; anyone else's, a cancelled or an expired one is not found. */
export async function findExport(db: Db, id: string, requester: Requester): Promise<ExportRow | null> {
  if (!UUID.test(id)) return null;
  const [row] = await db
    .select()
    .from(fhirExports)
    .where(
      and(
        eq(fhirExports.id, id),
        eq(fhirExports.requesterKind, requester.kind),
        eq(fhirExports.requesterId, requester.id),
        sql`${fhirExports.status} <> 'cancelled'`,
        sql`${fhirExports.expiresAt} > now()`,
      ),
    );
  return row ?? null;
}

/**
 * Cancels the requester's export and deletes its files; false when there is none to cancel. A
 * job still writing rolls back when it tries to finish (its snapshot sees the row changed).
 */
export async function cancelExport(db: Db, id: string, requester: Requester): Promise<boolean> {
  return db.transaction(async (tx) => {
    const found = await findExport(tx, id, requester);
    if (!found) return false;
    await tx.update(fhirExports).set({ status: 'cancelled' }).where(eq(fhirExports.id, id));
    await tx.delete(fhirExportFiles).where(eq(fhirExportFiles.exportId, id));
    return true;
  });
}

export interface ExportFileInfo {
  type: string;
  index: number;
  count: number;
}

export function fileNameOf(file: Pick<ExportFileInfo, 'type' | 'index'>): string {
  return `${file.type}-${file.index}.ndjson`;
}

export async function exportFilesOf(db: Db, row: ExportRow): Promise<ExportFileInfo[]> {
  const files = await db
    .select({ type: fhirExportFiles.type, index: fhirExportFiles.index, count: fhirExportFiles.count })
    .from(fhirExportFiles)
    .where(eq(fhirExportFiles.exportId, row.id))
    .orderBy(asc(fhirExportFiles.type), asc(fhirExportFiles.index));
  // In the order the types were asked for, as the client listed them.
  return files.sort((a, b) => row.types.indexOf(a.type) - row.types.indexOf(b.type) || a.index - b.index);
}

/** One file of a complete export of the requester's, or null. */
export async function readExportFile(db: Db, id: string, requester: Requester, fileName: string) {
  const match = /^([A-Za-z]{1,40})-(\d{1,6})\.ndjson$/.exec(fileName);
  if (!match) return null;
  const [, type = '', index = '0'] = match;
  const found = await findExport(db, id, requester);
  if (found?.status !== 'complete') return null;
  const [file] = await db
    .select()
    .from(fhirExportFiles)
    .where(and(eq(fhirExportFiles.exportId, id), eq(fhirExportFiles.type, type), eq(fhirExportFiles.index, Number(index))));
  return file ?? null;
}

/** The IG's complete-status body. `base` is the FHIR base the client reached, e.g. `https://clinic.example/fhir/R4`. */
export function manifestOf(row: ExportRow, files: readonly ExportFileInfo[], base: string) {
  return {
    transactionTime: (row.transactionTime ?? row.createdAt).toISOString(),
    request: `${base}${row.request}`,
    requiresAccessToken: true,
    output: files.map((file) => ({ type: file.type, url: `${base}/$export-file/${row.id}/${fileNameOf(file)}`, count: file.count })),
    error: [] as { type: string; url: string }[],
  };
}

function systemClientOf(principal: { id: string; name: string; scopes: readonly string[] }): SystemClient {
  return {
    id: principal.id,
    name: principal.name,
    scopes: principal.scopes,
    allows: (type, permission) => scopesAllow(principal.scopes, type, permission),
  };
}

/** The requester as a reader now: null when the account is disabled or gone, or the client revoked or expired. */
export async function readerOfRequester(db: Db, requester: Requester): Promise<Reader | null> {
  if (requester.kind === 'client') {
    const client = await findActiveApiClient(db, requester.id);
    return client ? { kind: 'system', client: systemClientOf(client) } : null;
  }
  const user = await findActiveUserById(db, requester.id);
  if (!user) return null;
  return readerForUser(db, user);
}

/** When a resource last changed, as its mapping says; undefined for reference data that does not say. */
function changedAt(resource: Resource): string | undefined {
  if (resource.meta?.lastUpdated) return resource.meta.lastUpdated;
  if (resource.resourceType === 'Provenance' || resource.resourceType === 'AuditEvent') return resource.recorded;
  return undefined;
}

/** The patient a resource is about, when it says so itself. */
function patientOf(resource: Resource): string | undefined {
  if (resource.resourceType === 'Patient') return resource.id;
  if (resource.resourceType === 'Encounter' || resource.resourceType === 'Observation' || resource.resourceType === 'CarePlan') {
    const reference = resource.subject?.reference;
    return reference?.startsWith('Patient/') ? reference.slice('Patient/'.length) : undefined;
  }
  return undefined;
}

export type ExportOutcome = 'complete' | 'cancelled' | 'refused';

/** Thrown inside the export's transaction to roll its files back when the export was cancelled meanwhile. */
class ExportCancelled extends Error {}

/**
 * Runs an export: re-checks that its requester may still read each type, then writes every
 * matching resource as NDJSON files in one repeatable-read transaction, so the files are one
 * consistent snapshot and appear all at once (or not at all, for a retry to redo). A requester
 * who may no longer export gets a failed export, not its data.
 */
export async function runExport(db: Db, exportId: string, options: { resourcesPerFile?: number | undefined } = {}): Promise<ExportOutcome> {
  const perFile = options.resourcesPerFile ?? DEFAULT_RESOURCES_PER_FILE;
  const [row] = await db
    .update(fhirExports)
    .set({ status: 'running' })
    .where(and(eq(fhirExports.id, exportId), inArray(fhirExports.status, ['pending', 'running'])))
    .returning();
  if (!row) return 'cancelled';
  const reader = await readerOfRequester(db, { kind: row.requesterKind, id: row.requesterId });
  if (!reader) {
    await markExportFailed(db, exportId, 'The requester may no longer export (account disabled or client revoked)');
    return 'refused';
  }
  const types: { type: ResourceType; restriction: ReturnType<typeof restrictionFor> }[] = [];
  for (const type of row.types) {
    try {
      if (!isResourceType(type)) throw badParameter(`unknown type ${type}`);
      types.push({ type, restriction: restrictionFor(reader, type, 's') });
    } catch (error) {
      if (!(error instanceof FhirError)) throw error;
      await markExportFailed(db, exportId, `The requester may no longer export ${type}: ${error.diagnostics}`);
      return 'refused';
    }
  }
  const since = row.since?.getTime() ?? null;
  const pageSize = Math.min(MAX_COUNT, perFile);
  try {
    await db.transaction(
      async (tx) => {
        // Everything committed before this instant is in the snapshot; a writer still open then
        // may commit rows stamped earlier, so the oldest open transaction's start bounds it too.
        const { rows } = (await tx.execute(sql`
          select to_char(least(now(), (select min(xact_start) from pg_stat_activity
                                       where datname = current_database() and pid <> pg_backend_pid() and xact_start is not null))
                         at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at`)) as { rows: { at: string }[] };
        const transactionTime = new Date(rows[0]?.at ?? Date.now());
        for (const { type, restriction } of types) {
          let index = 0;
          let lines: string[] = [];
          let patients = new Set<string>();
          const flush = async () => {
            if (lines.length === 0) return;
            index += 1;
            await tx.insert(fhirExportFiles).values({
              exportId,
              type,
              index,
              count: lines.length,
              ndjson: `${lines.join('\n')}\n`,
              patientIds: [...patients],
            });
            lines = [];
            patients = new Set();
          };
          for (let offset = 0; ; offset += pageSize) {
            const params = new Map([
              ['_count', [String(pageSize)]],
              ['_offset', [String(offset)]],
            ]);
            const page = await searchResources(tx, type, params, restriction);
            for (const resource of page.resources) {
              const changed = changedAt(resource);
              if (since !== null && changed !== undefined && Date.parse(changed) <= since) continue;
              lines.push(JSON.stringify(resource));
              // A resource that does not name its patient (Provenance) counts the page's patients.
              const patient = patientOf(resource);
              for (const id of patient !== undefined ? [patient] : page.patientIds) patients.add(id);
              if (lines.length >= perFile) await flush();
            }
            if (page.resources.length < pageSize || offset + pageSize >= page.total) break;
          }
          await flush();
        }
        const completedAt = new Date();
        const finished = await tx
          .update(fhirExports)
          .set({ status: 'complete', transactionTime, completedAt, expiresAt: new Date(completedAt.getTime() + EXPORT_RETENTION_MS) })
          .where(and(eq(fhirExports.id, exportId), eq(fhirExports.status, 'running')))
          .returning({ id: fhirExports.id });
        if (finished.length === 0) throw new ExportCancelled();
      },
      { isolationLevel: 'repeatable read' },
    );
  } catch (error) {
    // Cancelled (or expired and swept) while it ran: a concurrent change of the row fails the
    // snapshot's final update, and nothing it wrote stays.
    const [now] = await db.select({ status: fhirExports.status }).from(fhirExports).where(eq(fhirExports.id, exportId));
    if (error instanceof ExportCancelled || !now || now.status === 'cancelled') return 'cancelled';
    throw error;
  }
  return 'complete';
}

/** Marks an unfinished export failed; `message` is for the client and holds no health data. */
export async function markExportFailed(db: Db, exportId: string, message: string): Promise<void> {
  await db
    .update(fhirExports)
    .set({ status: 'failed', error: message.slice(0, 500), completedAt: new Date() })
    .where(and(eq(fhirExports.id, exportId), inArray(fhirExports.status, ['pending', 'running'] satisfies FhirExportStatus[])));
}

/** Deletes every export past its expiry, files and all; returns how many. */
export async function deleteExpiredExports(db: Db, now = new Date()): Promise<number> {
  const deleted = await db.delete(fhirExports).where(lt(fhirExports.expiresAt, now)).returning({ id: fhirExports.id });
  return deleted.length;
}

/** Exports still pending this long after their kick-off: their job may never have been queued. */
export async function pendingExportsOlderThan(db: Db, before: Date): Promise<string[]> {
  const rows = await db
    .select({ id: fhirExports.id })
    .from(fhirExports)
    .where(and(eq(fhirExports.status, 'pending'), lt(fhirExports.createdAt, before), sql`${fhirExports.expiresAt} > now()`))
    .limit(100);
  return rows.map((row) => row.id);
}
