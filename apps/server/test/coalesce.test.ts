import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { coalesce } from '../src/coalesce.js';

/** A task whose passes the test ends one at a time. */
function gatedTask() {
  const ends: Array<() => void> = [];
  let concurrent = 0;
  let mostConcurrent = 0;
  const task = () =>
    new Promise<void>((resolve) => {
      concurrent += 1;
      mostConcurrent = Math.max(mostConcurrent, concurrent);
      ends.push(() => {
        concurrent -= 1;
        resolve();
      });
    });
  return {
    task,
    get started() {
      return ends.length;
    },
    get mostConcurrent() {
      return mostConcurrent;
    },
    async endPass(index: number) {
      await eventuallyStarted(() => ends.length > index);
      ends[index]!();
    },
  };
}

async function eventuallyStarted(condition: () => boolean): Promise<void> {
  for (let tries = 0; !condition(); tries++) {
    if (tries > 1000) throw new Error('the pass never started');
    await delay(1);
  }
}

describe('coalesce', () => {
  it('runs one pass for the calls that arrive during a pass, never two at once', async () => {
    const gated = gatedTask();
    const { run } = coalesce(gated.task, () => undefined);
    const first = run();
    const during = [run(), run(), run()];
    await gated.endPass(0);
    await first;
    await gated.endPass(1);
    await Promise.all(during);
    expect(gated.started).toBe(2);
    expect(gated.mostConcurrent).toBe(1);
  });

  it('settles a caller after the next pass even while others keep asking (a timer under a slow task)', async () => {
    const gated = gatedTask();
    const { run } = coalesce(gated.task, () => undefined);
    void run();
    let settled = false;
    const caller = run().then(() => (settled = true));
    // Every pass gets another request while it runs, as a 1 s timer does when passes take longer.
    for (let pass = 0; pass < 3; pass++) {
      await gated.endPass(pass);
      await delay(5);
      void run();
    }
    await delay(5);
    expect(settled).toBe(true);
    expect(gated.mostConcurrent).toBe(1);
    await gated.endPass(3);
    await caller;
  });

  it('reports a failed pass and goes on with the next', async () => {
    const errors: unknown[] = [];
    let passes = 0;
    const { run, idle } = coalesce(
      () => {
        passes += 1;
        return passes === 1 ? Promise.reject(new Error('first pass fails')) : Promise.resolve();
      },
      (error) => errors.push(error),
    );
    await Promise.all([run(), run()]);
    await idle();
    expect(passes).toBe(2);
    expect(errors).toHaveLength(1);
  });
});
