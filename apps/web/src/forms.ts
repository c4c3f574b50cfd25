import { useForm, type FormErrors, type UseFormReturnType } from '@mantine/form';
import { zod4Resolver } from 'mantine-form-zod-resolver';
import { useRef } from 'react';
import { fieldErrorsOf, type FieldCodes } from './errors';

type Schema = Parameters<typeof zod4Resolver>[0];

interface SchemaFormOptions<Values> {
  /** The shared schema the server parses the same input with, so both say the same words. */
  schema: Schema;
  initialValues: Values;
  /** Turns what the inputs hold (strings, '' for nothing) into the input the schema expects. */
  toInput?: (values: Values) => unknown;
  /**
   * What this form asks that the schema leaves open (a choice the server would default), in the
   * form's own words; these win over the schema's message for the same field.
   */
  also?: (values: Values) => FormErrors;
}

/**
 * A `@mantine/form` form checked against a shared zod schema: on submit, when a field is left, and
 * from then on as that field is typed in. Checking a field before it was ever left would scold
 * someone half way through typing their email.
 */
export function useSchemaForm<Values extends Record<string, unknown>>({ schema, initialValues, toInput, also }: SchemaFormOptions<Values>) {
  const left = useRef(new Set<string>());
  const resolve = zod4Resolver(schema);
  const form = useForm<Values>({
    mode: 'controlled',
    initialValues,
    validate: (values) => ({ ...resolve((toInput ? toInput(values) : values) as Record<string, unknown>), ...also?.(values) }),
    validateInputOnBlur: true,
    // Mantine merges what this returns into `inputProps` itself: take its handlers first.
    enhanceGetInputProps: ({ inputProps, field, form }) => {
      const { onChange, onBlur } = inputProps as { onChange: (value: unknown) => void; onBlur?: () => void };
      return {
        onBlur: () => {
          left.current.add(String(field));
          onBlur?.();
        },
        onChange: (value: unknown) => {
          onChange(value);
          if (left.current.has(String(field))) form.validateField(field);
        },
      };
    },
  });
  // A form emptied after a save starts over: its fields are checked again only once they are left.
  const reset = () => {
    left.current.clear();
    form.reset();
  };
  return { ...form, reset };
}

/**
 * Puts a refused submit's messages under the fields they belong to: the server's zod messages, and
 * the codes this form names a field for (EMAIL_TAKEN under the email, say).
 */
export function showServerErrors<Values>(form: UseFormReturnType<Values>, error: unknown, fieldCodes: FieldCodes = {}): void {
  for (const [field, message] of Object.entries(fieldErrorsOf(error, fieldCodes))) form.setFieldError(field, message);
}
