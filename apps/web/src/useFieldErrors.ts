import { useState } from 'react';
import { fieldErrorsOf } from './trpc';

/** The server's field messages for the last attempt, each hidden once its field is edited. */
export function useFieldErrors(error: unknown) {
  const [edited, setEdited] = useState<{ error: unknown; fields: ReadonlySet<string> }>({ error: null, fields: new Set() });
  const editedFields = edited.error === error ? edited.fields : new Set<string>();
  const fieldErrors: Partial<Record<string, string>> = {};
  for (const [field, message] of Object.entries(fieldErrorsOf(error))) {
    if (!editedFields.has(field)) fieldErrors[field] = message;
  }
  function markEdited(...fields: string[]) {
    if (fields.some((field) => !editedFields.has(field))) setEdited({ error, fields: new Set([...editedFields, ...fields]) });
  }
  return { fieldErrors, markEdited };
}
