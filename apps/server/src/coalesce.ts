/**
 * Runs `task` one pass at a time. A call while a pass is under way asks for one more pass after
 * it, however many calls arrive, and resolves when that pass is done: nothing requested is
 * skipped, work never runs twice at once in this process, and a caller waits at most for the pass
 * under way and the next one, however often others keep asking.
 */
export function coalesce(
  task: () => Promise<void>,
  onError: (error: unknown) => void,
): { run: () => Promise<void>; idle: () => Promise<void> } {
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;

  function start(): Promise<void> {
    const pass: Promise<void> = (async () => {
      try {
        await task();
      } catch (error) {
        onError(error);
      }
    })().finally(() => {
      if (running === pass) running = null;
    });
    running = pass;
    return pass;
  }

  function run(): Promise<void> {
    if (queued) return queued;
    if (!running) return start();
    queued = running.then(() => {
      queued = null;
      return start();
    });
    return queued;
  }

  async function idle(): Promise<void> {
    for (let pending = queued ?? running; pending; pending = queued ?? running) await pending;
  }

  return { run, idle };
}
