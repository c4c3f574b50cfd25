import type { Acuity, AppErrorCode, QueueEntry, QueueStatus } from '@phos/shared';
import { useMutation } from '@tanstack/react-query';
import { useCallback, useState } from 'react';
import { appCodeOf, errorMessage } from '../errors';
import { useTRPC } from '../trpc';

export type RowAction =
  { kind: 'move'; to: Exclude<QueueStatus, 'with_clinician'> } | { kind: 'send' } | { kind: 'triage' } | { kind: 'undo' };

/** Refusals that a fresh look at the row explains, as opposed to a problem with what was typed. */
const staleOrRefused: ReadonlySet<AppErrorCode> = new Set(['STALE_VERSION', 'INVALID_TRANSITION', 'NOT_FOUND', 'ALREADY_QUEUED']);

function isStaleOrRefused(error: unknown): boolean {
  const code = appCodeOf(error);
  return code !== null && staleOrRefused.has(code);
}

export type OpenDialog = { kind: 'send' | 'triage'; entry: QueueEntry } | null;

export interface Notice {
  key: number;
  message: string;
}

/**
 * The dashboard's writes. Each names the version of the row the user acted on; the fresh row
 * arrives over the subscription, so nothing here touches the cache.
 */
export function useQueueActions() {
  const trpc = useTRPC();
  const transition = useMutation(trpc.queue.transition.mutationOptions());
  const triage = useMutation(trpc.queue.triage.mutationOptions());
  const undo = useMutation(trpc.queue.undo.mutationOptions());
  const [pending, setPending] = useState<ReadonlySet<string>>(new Set());
  const [notice, setNotice] = useState<Notice | null>(null);
  const [dialog, setDialog] = useState<OpenDialog>(null);

  const { mutateAsync: transitionAsync } = transition;
  const { mutateAsync: triageAsync } = triage;
  const { mutateAsync: undoAsync } = undo;

  /** Runs one write for an entry; refusals go to the notice, other errors to the caller. */
  const track = useCallback(async (entryId: string, write: () => Promise<unknown>): Promise<boolean> => {
    setPending((current) => new Set(current).add(entryId));
    try {
      await write();
      return true;
    } catch (error) {
      if (isStaleOrRefused(error)) {
        setNotice((current) => ({ key: (current?.key ?? 0) + 1, message: errorMessage(error) ?? 'The change was refused' }));
        return true;
      }
      throw error;
    } finally {
      setPending((current) => {
        const next = new Set(current);
        next.delete(entryId);
        return next;
      });
    }
  }, []);

  const reportAny = useCallback(
    (entryId: string, write: () => Promise<unknown>) => {
      track(entryId, write).catch((error: unknown) => {
        setNotice((current) => ({ key: (current?.key ?? 0) + 1, message: errorMessage(error) ?? 'Something went wrong' }));
      });
    },
    [track],
  );

  const act = useCallback(
    (entry: QueueEntry, action: RowAction) => {
      const versioned = { entryId: entry.id, expectedVersion: entry.version };
      switch (action.kind) {
        case 'move':
          reportAny(entry.id, () => transitionAsync({ ...versioned, to: action.to }));
          return;
        case 'undo':
          reportAny(entry.id, () => undoAsync(versioned));
          return;
        case 'send':
        case 'triage':
          setDialog({ kind: action.kind, entry });
          return;
      }
    },
    [reportAny, transitionAsync, undoAsync],
  );

  /** From the dialog: resolves true when the dialog can close (done, or refused and explained by the notice). */
  const sendToClinician = useCallback(
    (entry: QueueEntry, clinicianId: string, roomId: string | null) =>
      track(entry.id, () =>
        transitionAsync({ entryId: entry.id, expectedVersion: entry.version, to: 'with_clinician', clinicianId, roomId }),
      ),
    [track, transitionAsync],
  );

  const saveTriage = useCallback(
    (entry: QueueEntry, acuity: Acuity, note: string) =>
      track(entry.id, () =>
        triageAsync({ entryId: entry.id, expectedVersion: entry.version, acuity, note: note.trim() === '' ? undefined : note }),
      ),
    [track, triageAsync],
  );

  return {
    act,
    pending,
    notice,
    dismissNotice: useCallback(() => setNotice(null), []),
    dialog,
    closeDialog: useCallback(() => setDialog(null), []),
    sendToClinician,
    saveTriage,
  };
}
