import { PasswordInput, type PasswordInputProps } from '@mantine/core';

/** Mantine's PasswordInput, with `aria-invalid` on its input when it has an error (Mantine leaves it off). */
export function PasswordField(props: PasswordInputProps) {
  return <PasswordInput {...props} aria-invalid={props.error ? true : undefined} />;
}
