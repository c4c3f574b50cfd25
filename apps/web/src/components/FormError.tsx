import { Alert } from '@mantine/core';

/** Why a form could not be sent, above its fields; nothing when there is no error. */
export function FormError({ message, title }: { message: string | null | undefined; title?: string }) {
  if (!message) return null;
  return (
    <Alert color="red" variant="light" title={title}>
      {message}
    </Alert>
  );
}
