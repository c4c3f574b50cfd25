import { useState, type ChangeEvent, type Dispatch, type SetStateAction } from 'react';
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

type FieldErrors = ReturnType<typeof useFieldErrors>;

/**
 * Binds a form's text fields: `field('email')` gives an input its value, its change handler
 * (which also hides the server's now-stale message for that field) and its error.
 */
export function fieldBinder<T extends Record<string, string>>(
  form: T,
  setForm: Dispatch<SetStateAction<T>>,
  { fieldErrors, markEdited }: FieldErrors,
  onEdit?: () => void,
) {
  return (name: keyof T & string) => ({
    value: form[name],
    error: fieldErrors[name],
    onChange: (event: ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => {
      const value = event.currentTarget.value;
      markEdited(name);
      onEdit?.();
      setForm((current) => ({ ...current, [name]: value }));
    },
  });
}
