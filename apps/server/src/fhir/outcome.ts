import { isDatabaseBusy, isDatabaseUnavailable } from '../db/client.js';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

type IssueCode = OperationOutcomeIssue['code'];

/** A FHIR interaction refused or failed: its HTTP status and the OperationOutcome that says why. */
export class FhirError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 406 | 409 | 410 | 412 | 415 | 422 | 429 | 500 | 503,
    readonly code: IssueCode,
    /** Ids, parameter names and codes only: never health data. */
    readonly diagnostics: string,
  ) {
    super(diagnostics);
    this.name = 'FhirError';
  }
}

export function operationOutcome(
  code: IssueCode,
  diagnostics: string,
  severity: OperationOutcomeIssue['severity'] = 'error',
): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics }] };
}

export const notFound = (type: string, id: string) => new FhirError(404, 'not-found', `${type}/${id} is not known`);
export const badParameter = (message: string) => new FhirError(400, 'invalid', message);
export const forbidden = (message = 'Not allowed to read this') => new FhirError(403, 'forbidden', message);

/** Any failure as the FHIR error it is: a database fault the client may retry is a 503; anything unexpected a 500. */
export function asFhirError(error: unknown): FhirError {
  if (error instanceof FhirError) return error;
  if (isDatabaseBusy(error)) return new FhirError(503, 'transient', 'The records were busy; try again');
  if (isDatabaseUnavailable(error)) return new FhirError(503, 'transient', "The clinic's records can't be reached right now; try again");
  return new FhirError(500, 'exception', 'Something went wrong');
}
