import type { Logger } from 'pino';

export interface Shutdown<Args extends unknown[]> {
  /** Adds a named step; steps run in reverse order of adding, each after the one before ends. */
  add(name: string, step: (...args: Args) => unknown): void;
  /** Runs every step once; a failing step is logged and the rest still run. */
  run(...args: Args): Promise<void>;
}

/** `slowAfterMs`: how long a step may run before the log names it, which is what a stuck shutdown is stuck on. */
export function createShutdown<Args extends unknown[] = []>(log: Logger, slowAfterMs = 10_000): Shutdown<Args> {
  const steps: { name: string; step: (...args: Args) => unknown }[] = [];
  return {
    add(name, step) {
      steps.push({ name, step });
    },
    async run(...args) {
      for (const { name, step } of steps.splice(0).reverse()) {
        const slow = setTimeout(() => log.warn({ step: name }, `shutdown step still running after ${slowAfterMs} ms`), slowAfterMs);
        slow.unref();
        try {
          await step(...args);
        } catch (error) {
          log.error({ err: error, step: name }, 'shutdown step failed');
        } finally {
          clearTimeout(slow);
        }
      }
    },
  };
}
