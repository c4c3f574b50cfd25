import { Anchor, CloseButton, Paper, Text } from '@mantine/core';
import { createContext, use, useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { Link } from 'react-router';
import { useMe } from '../auth';
import './toasts.css';

export interface Toast {
  title: string;
  body?: string;
  link?: string;
}

type ToastWithId = Toast & { id: number };

const TOAST_LIFETIME_MS = 8_000;
const MAX_TOASTS = 4;

const ToastContext = createContext<((toast: Toast) => void) | null>(null);

/** Shows a short-lived notice in the corner; screen readers hear it through the polite live region. */
export function useToast(): (toast: Toast) => void {
  const show = use(ToastContext);
  if (!show) throw new Error('useToast needs a ToastProvider');
  return show;
}

export function ToastProvider({ children }: { children: ReactNode }) {
  // A notice names patients: it belongs to the user who was signed in when it came, and goes at sign-out.
  const userId = useMe().data?.id ?? null;
  const [held, setHeld] = useState<{ userId: string | null; toasts: readonly ToastWithId[] }>({ userId, toasts: [] });
  if (held.userId !== userId) setHeld({ userId, toasts: [] });
  const toasts = held.userId === userId ? held.toasts : [];
  const lastId = useRef(0);

  const show = useCallback(
    (toast: Toast) => {
      lastId.current += 1;
      const id = lastId.current;
      setHeld((current) => ({
        userId,
        toasts: [...(current.userId === userId ? current.toasts : []), { ...toast, id }].slice(-MAX_TOASTS),
      }));
    },
    [userId],
  );
  const dismiss = useCallback(
    (id: number) => setHeld((current) => ({ ...current, toasts: current.toasts.filter((toast) => toast.id !== id) })),
    [],
  );

  return (
    <ToastContext value={show}>
      {children}
      <div className="toast-stack" role="status" aria-live="polite" aria-label="Notices">
        {toasts.map((toast) => (
          <ToastCard key={toast.id} toast={toast} onDismiss={dismiss} />
        ))}
      </div>
    </ToastContext>
  );
}

function ToastCard({ toast, onDismiss }: { toast: ToastWithId; onDismiss: (id: number) => void }) {
  const [paused, setPaused] = useState(false);
  useEffect(() => {
    if (paused) return;
    const timer = window.setTimeout(() => onDismiss(toast.id), TOAST_LIFETIME_MS);
    return () => window.clearTimeout(timer);
  }, [paused, toast.id, onDismiss]);
  return (
    <Paper
      className="toast"
      shadow="md"
      withBorder
      p="sm"
      radius="md"
      onMouseEnter={() => setPaused(true)}
      onMouseLeave={() => setPaused(false)}
      onFocus={() => setPaused(true)}
      onBlur={() => setPaused(false)}
    >
      <div className="toast-text">
        <Text size="sm" fw={600}>
          {toast.link ? (
            <Anchor component={Link} to={toast.link} inherit onClick={() => onDismiss(toast.id)}>
              {toast.title}
            </Anchor>
          ) : (
            toast.title
          )}
        </Text>
        {toast.body ? (
          <Text size="sm" c="dimmed">
            {toast.body}
          </Text>
        ) : null}
      </div>
      <CloseButton size="sm" aria-label="Dismiss notice" onClick={() => onDismiss(toast.id)} />
    </Paper>
  );
}
