/** Where tabs of one browser share the time of the session's last activity: a timestamp, nothing else. */
const ACTIVITY_KEY = 'phos:last-activity';

/**
 * What the tRPC link learns about the session, for the app to act on: when the session was last
 * used (the server renews its idle timeout on every query and mutation) and that it has ended.
 * One per app, created beside the tRPC client.
 */
export class SessionSignals {
  private lastActivity = Date.now();
  private readonly activityListeners = new Set<() => void>();
  private readonly endedListeners = new Set<() => void>();

  /** A query or mutation left for the server, which slides the session's idle deadline. */
  recordActivity(at = Date.now()): void {
    this.setLastActivity(at);
    try {
      // Another tab of the same session must not sign out while this one is in use.
      window.localStorage.setItem(ACTIVITY_KEY, String(at));
    } catch {
      // Storage may be unavailable (private mode, quota): this tab still counts its own activity.
    }
  }

  getLastActivity = (): number => this.lastActivity;

  /** For useSyncExternalStore: activity here or in another tab. */
  subscribeActivity = (listener: () => void): (() => void) => {
    this.activityListeners.add(listener);
    const onStorage = (event: StorageEvent) => {
      if (event.key !== ACTIVITY_KEY || event.newValue === null) return;
      const at = Number(event.newValue);
      if (Number.isFinite(at)) this.setLastActivity(at);
    };
    window.addEventListener('storage', onStorage);
    return () => {
      this.activityListeners.delete(listener);
      window.removeEventListener('storage', onStorage);
    };
  };

  /** The server said the session is over (signed out elsewhere, expired, account disabled). */
  sessionEnded(): void {
    for (const listener of this.endedListeners) listener();
  }

  onSessionEnded(listener: () => void): () => void {
    this.endedListeners.add(listener);
    return () => this.endedListeners.delete(listener);
  }

  private setLastActivity(at: number): void {
    if (at <= this.lastActivity) return;
    this.lastActivity = at;
    for (const listener of this.activityListeners) listener();
  }
}
