import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { expectConverged, expectNoHealthDataInRedis } from './checks.js';
import { flood, openLiveViews } from './clients.js';
import { onCluster, report } from './cluster.js';

/** /readyz's answer and how long it took. */
async function readiness(url: string): Promise<{ status: number; ms: number }> {
  const startedAt = Date.now();
  const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, ms: Date.now() - startedAt };
}

describe('Redis faults', () => {
  it('SIGKILL mid-flood, down 3 s: what the AOF lost is re-delivered, one patient each', async () => {
    await onCluster({ apis: 1, workers: 1 }, async (cluster) => {
      const live = await openLiveViews(cluster, 3);
      const registrations = flood(cluster, { count: 80, perSecond: 10 });
      await registrations.sent(30);
      await cluster.redis.kill();
      await delay(3000);
      await cluster.redis.start();
      const faultOver = Date.now();
      const result = await registrations.done;
      // Up to a second of queue operations may be gone (AOF everysec): the reconciler (every 5 s
      // here, for rows 10 s overdue) re-delivers those registrations.
      const converged = await expectConverged(cluster, result, live, { withinMs: 45_000 });
      await expectNoHealthDataInRedis(cluster, result);
      report('Redis SIGKILL, 3 s down', {
        accepted: result.accepted.length,
        requests: result.requests,
        failures: result.failures,
        convergedAfterFaultMs: converged.at - faultOver,
      });
      // Told to try again shortly while Redis could not count registrations: never a bare 500.
      expect(Object.keys(result.failures).filter((failure) => !/^(503|429) /.test(failure))).toEqual([]);
    });
  });

  it('SIGSTOP for 5 s mid-flood: /readyz says 503 within about a second, and 200 after; nothing lost', async () => {
    await onCluster({ apis: 1, workers: 1 }, async (cluster) => {
      const live = await openLiveViews(cluster, 3);
      const [api] = cluster.apis;
      const registrations = flood(cluster, { count: 80, perSecond: 10 });
      await registrations.sent(30);
      cluster.redis.pause();
      await delay(1000);
      const paused = await readiness(api!.url!);
      await delay(4000);
      cluster.redis.resume();
      const faultOver = Date.now();
      const result = await registrations.done;
      const converged = await expectConverged(cluster, result, live, { withinMs: 30_000 });
      const after = await readiness(api!.url!);
      report('Redis SIGSTOP 5 s', {
        readyzWhilePaused: paused,
        accepted: result.accepted.length,
        convergedAfterFaultMs: converged.at - faultOver,
      });
      expect(paused.status).toBe(503);
      expect(paused.ms).toBeLessThan(2500);
      expect(after.status).toBe(200);
    });
  });

  it('pub/sub connections killed every second for 10 s: live views get every change late, never lost', async () => {
    await onCluster({ apis: 2, workers: 1 }, async (cluster) => {
      const live = await openLiveViews(cluster, 4);
      const registrations = flood(cluster, { count: 100, perSecond: 10 });
      let killed = 0;
      for (let round = 0; round < 10; round++) {
        await delay(1000);
        killed += await cluster.redis.killPubSubConnections();
      }
      const faultOver = Date.now();
      const result = await registrations.done;
      const converged = await expectConverged(cluster, result, live, { withinMs: 15_000 });
      report('pub/sub connections killed', { killed, accepted: result.accepted.length, convergedAfterFaultMs: converged.at - faultOver });
      expect(killed).toBeGreaterThanOrEqual(10);
    });
  });
});
