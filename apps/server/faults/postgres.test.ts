import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { expectConverged } from './checks.js';
import { flood, openLiveViews } from './clients.js';
import { onCluster, report } from './cluster.js';

describe('PostgreSQL faults', () => {
  it('a crash and restart mid-flood (immediate stop, recovery on start): nothing lost, no process dies', async () => {
    await onCluster({ apis: 1, workers: 1 }, async (cluster) => {
      const live = await openLiveViews(cluster, 3);
      const registrations = flood(cluster, { count: 80, perSecond: 10 });
      await registrations.sent(30);
      await cluster.postgres.stop('immediate');
      await cluster.postgres.start();
      const faultOver = Date.now();
      const result = await registrations.done;
      const converged = await expectConverged(cluster, result, live, { withinMs: 30_000 });
      report('PostgreSQL crash and restart', {
        accepted: result.accepted.length,
        requests: result.requests,
        convergedAfterFaultMs: converged.at - faultOver,
      });
    });
  });

  it('stopped for 10 s mid-flood: requests fail typed meanwhile, then everything converges', async () => {
    await onCluster({ apis: 1, workers: 1 }, async (cluster) => {
      const live = await openLiveViews(cluster, 3);
      const [api] = cluster.apis;
      const registrations = flood(cluster, { count: 80, perSecond: 8 });
      await registrations.sent(20);
      await cluster.postgres.stop('fast');
      await delay(2000);
      const ready = await fetch(`${api!.url!}/readyz`, { signal: AbortSignal.timeout(10_000) });
      await delay(8000);
      await cluster.postgres.start();
      const faultOver = Date.now();
      const result = await registrations.done;
      const converged = await expectConverged(cluster, result, live, { withinMs: 30_000 });
      report('PostgreSQL stopped 10 s', {
        accepted: result.accepted.length,
        requests: result.requests,
        failures: result.failures,
        convergedAfterFaultMs: converged.at - faultOver,
      });
      expect(ready.status).toBe(503);
      // Told, in a code the web app knows, to try again: never a bare 500.
      expect(Object.keys(result.failures).filter((failure) => !/^(503|429) /.test(failure))).toEqual([]);
      // The registrants who came during the outage were told to try again, and their retry worked.
      expect(result.accepted.some((registrant) => registrant.attempts > 1)).toBe(true);
    });
  });

  it('every backend terminated (57P01) five times during a flood: the work fails or retries, the processes live on', async () => {
    await onCluster({ apis: 2, workers: 2 }, async (cluster) => {
      const live = await openLiveViews(cluster, 3);
      const registrations = flood(cluster, { count: 100, perSecond: 10 });
      let terminated = 0;
      for (let round = 0; round < 5; round++) {
        await delay(1500);
        terminated += await cluster.postgres.terminateBackends();
      }
      const faultOver = Date.now();
      const result = await registrations.done;
      const converged = await expectConverged(cluster, result, live, { withinMs: 30_000 });
      report('PostgreSQL backends terminated', {
        terminated,
        accepted: result.accepted.length,
        requests: result.requests,
        convergedAfterFaultMs: converged.at - faultOver,
      });
      expect(terminated).toBeGreaterThanOrEqual(5);
    });
  });
});
