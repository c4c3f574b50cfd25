import { z } from 'zod';
import { nameSchema, uuidSchema } from './fields.js';

/** The FHIR R4 resource types Phos serves; a scope names one of these or `*`. */
export const fhirResourceTypes = [
  'Patient',
  'Encounter',
  'Observation',
  'CarePlan',
  'Provenance',
  'Practitioner',
  'Location',
  'AuditEvent',
] as const;
export type FhirResourceType = (typeof fhirResourceTypes)[number];

/** SMART v2 permissions, in the order a scope must list them: create, read, update, delete, search. */
export const scopePermissions = ['c', 'r', 'u', 'd', 's'] as const;
export type ScopePermission = (typeof scopePermissions)[number];

/** SMART v1 suffixes and the v2 permissions each stands for (SMART App Launch 2.0, "scopes for FHIR resources"). */
const v1Permissions: Record<string, readonly ScopePermission[]> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};

/** A system scope taken apart: what it grants on which resource type (`*`: every type Phos serves). */
export interface SystemScope {
  resourceType: FhirResourceType | '*';
  permissions: readonly ScopePermission[];
}

const scopeShape = /^system\/([A-Za-z]+|\*)\.([a-z]+|\*)$/;
const v2Permissions = /^c?r?u?d?s?$/;

function isResourceType(value: string): value is FhirResourceType | '*' {
  return value === '*' || (fhirResourceTypes as readonly string[]).includes(value);
}

/**
 * A `system/<type>.<permissions>` scope, in v2 form (`system/Patient.rs`) or v1 (`system/Patient.read`),
 * or null when it is neither, names a type Phos does not serve, or lists no permission. Patient and
 * user scopes, and v2 granular scopes (`?category=…`), are not for system clients.
 */
export function parseSystemScope(scope: string): SystemScope | null {
  const match = scopeShape.exec(scope);
  const [, resourceType, suffix] = match ?? [];
  if (resourceType === undefined || suffix === undefined || !isResourceType(resourceType)) return null;
  const v1 = Object.hasOwn(v1Permissions, suffix) ? v1Permissions[suffix] : undefined;
  if (v1) return { resourceType, permissions: v1 };
  if (suffix === '' || !v2Permissions.test(suffix)) return null;
  return { resourceType, permissions: scopePermissions.filter((permission) => suffix.includes(permission)) };
}

/** The v2 spelling of a scope: permissions in `cruds` order. */
export function formatSystemScope(scope: SystemScope): string {
  return `system/${scope.resourceType}.${scopePermissions.filter((permission) => scope.permissions.includes(permission)).join('')}`;
}

const scopeMessage = 'Use a SMART system scope such as system/Patient.rs: a resource type Phos serves (or *) and permissions from cruds';

/** One scope as an Admin may grant it; a v1 scope is stored as its v2 equal (`.read` becomes `.rs`). */
export const systemScopeSchema = z
  .string()
  .trim()
  .max(64, scopeMessage)
  .transform((value, ctx) => {
    const parsed = parseSystemScope(value);
    if (!parsed) {
      ctx.addIssue({ code: 'custom', message: scopeMessage });
      return z.NEVER;
    }
    return formatSystemScope(parsed);
  });

/** The longest an API client may live: a token that must be replaced now and then is one that gets rotated. */
export const API_CLIENT_MAX_LIFETIME_DAYS = 730;
const MAX_LIFETIME_MS = API_CLIENT_MAX_LIFETIME_DAYS * 86_400_000;

export const apiClientExpirySchema = z.iso
  .datetime({ offset: true, message: 'Use an ISO date and time' })
  .refine((value) => Date.parse(value) > Date.now(), 'Choose a time in the future')
  .refine((value) => Date.parse(value) <= Date.now() + MAX_LIFETIME_MS, `At most ${API_CLIENT_MAX_LIFETIME_DAYS / 365} years ahead`);

export const createApiClientInput = z.object({
  name: nameSchema,
  scopes: z
    .array(systemScopeSchema)
    .min(1, 'Choose at least one scope')
    .max(32, 'At most 32 scopes')
    .transform((scopes) => [...new Set(scopes)]),
  expiresAt: apiClientExpirySchema.optional(),
});
export type CreateApiClientInput = z.input<typeof createApiClientInput>;

export const revokeApiClientInput = z.object({ id: uuidSchema });

export const apiClientStatuses = ['active', 'expired', 'revoked'] as const;
export const apiClientStatusSchema = z.enum(apiClientStatuses);
export type ApiClientStatus = z.infer<typeof apiClientStatusSchema>;

/** An API client as an Admin sees it: never its token, only the first characters to recognise it by. */
export const apiClientSchema = z.object({
  id: uuidSchema,
  name: z.string(),
  scopes: z.array(z.string()),
  status: apiClientStatusSchema,
  /** `phos_` and a few characters of the token. */
  tokenPrefix: z.string(),
  createdAt: z.iso.datetime({ offset: true }),
  createdBy: uuidSchema,
  createdByName: z.string(),
  expiresAt: z.iso.datetime({ offset: true }).nullable(),
  revokedAt: z.iso.datetime({ offset: true }).nullable(),
  lastUsedAt: z.iso.datetime({ offset: true }).nullable(),
});
export type ApiClient = z.infer<typeof apiClientSchema>;

export const apiClientListOutput = z.object({ clients: z.array(apiClientSchema) });

/** The token is in this answer and nowhere else, ever: only its hash is kept. */
export const createdApiClientOutput = z.object({ client: apiClientSchema, token: z.string() });

export const apiClientOutput = z.object({ client: apiClientSchema });
