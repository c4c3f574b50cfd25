import type { CapabilityStatement } from '@medplum/fhirtypes';
import { resourceTypes, searchParameters } from './resources.js';

/** Exactly what `/fhir/R4` supports: read and type-level search on each type, JSON only. */
export function capabilityStatement(baseUrl: string, date: string): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date,
    publisher: 'Phos',
    kind: 'instance',
    software: { name: 'Phos' },
    implementation: { description: 'Phos patient intake and clinic queue', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        security: {
          cors: false,
          service: [
            {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }],
              text: 'A staff or patient session of the web app, or a system client bearer token with SMART v2 system scopes',
            },
          ],
        },
        resource: resourceTypes.map((type) => ({
          type,
          interaction: [{ code: 'read' as const }, { code: 'search-type' as const }],
          ...(type === 'Encounter' ? { searchInclude: ['Encounter:patient'] } : {}),
          searchParam: searchParameters[type].map(({ name, type: paramType }) => ({ name, type: paramType })),
        })),
      },
    ],
  };
}
