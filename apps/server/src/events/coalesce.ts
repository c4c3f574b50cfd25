/**
 * Runs `task` one pass at a time. A call during a pass asks for one more pass after it, however
 * many calls arrive, and resolves when that pass is done: nothing requested is skipped, and work
 * never runs twice at once in this process.
 */
export function coalesce(
  task: () => Promise<void>,
  onError: (error: unknown) => void,
): { run: () => Promise<void>; idle: () => Promise<void> } {
  let running: Promise<void> | null = null;
  let requests = 0;

  function run(): Promise<void> {
    requests += 1;
    if (running) return running;
    running = (async () => {
      let handled = 0;
      while (handled < requests) {
        handled = requests;
        try {
          await task();
        } catch (error) {
          onError(error);
        }
      }
    })().finally(() => {
      running = null;
      requests = 0;
    });
    return running;
  }

  return { run, idle: () => running ?? Promise.resolve() };
}
