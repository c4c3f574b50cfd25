import type { CapabilityStatement } from '@medplum/fhirtypes';
import { resourceTypes, searchParameters } from './resources.js';
import { ENCOUNTER_TOPIC } from './subscriptions.js';

/** Exactly what `/fhir/R4` supports: read and type-level search on each type, Patient create, transactions of Patients; JSON only. */
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
    instantiates: ['http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data'],
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
        // Patients in: a system client with Patient.c creates them, one at a time or in a transaction Bundle.
        interaction: [{ code: 'transaction' as const }, { code: 'batch' as const }],
        resource: [
          ...resourceTypes.map((type) => ({
            type,
            interaction: [
              { code: 'read' as const },
              { code: 'search-type' as const },
              ...(type === 'Patient' ? [{ code: 'create' as const }] : []),
            ],
            ...(type === 'Patient' ? { conditionalCreate: true } : {}),
            ...(type === 'Encounter' ? { searchInclude: ['Encounter:patient'] } : {}),
            ...(type === 'Patient'
              ? { operation: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export' }] }
              : {}),
            searchParam: searchParameters[type].map(({ name, type: paramType }) => ({ name, type: paramType })),
          })),
          // Topic-based subscriptions (the R4 backport): one topic, visits, followed over server-sent events.
          {
            type: 'Subscription' as const,
            supportedProfile: ['http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription'],
            interaction: [{ code: 'create' as const }, { code: 'read' as const }, { code: 'delete' as const }],
            extension: [
              {
                url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical',
                valueCanonical: ENCOUNTER_TOPIC,
              },
            ],
          },
        ],
        // Bulk export (the Bulk Data Access IG): kick-off, status and files under `$export`.
        operation: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' }],
      },
    ],
  };
}
