import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { expectConverged } from './checks.js';
import { flood, openLiveViews } from './clients.js';
import { onCluster, report, type FaultCluster, type PhosNode } from './cluster.js';

/** The bound: SIGTERM to exit. */
const SHUTDOWN_MS = 10_000;

/**
 * Freezes `api` (SIGSTOP) at moments of the flood until one finds a registration committed and
 * not yet handed to the queue, and answers how many such rows there were. The api stays frozen.
 */
async function freezeBetweenCommitAndRelay(cluster: FaultCluster, api: PhosNode): Promise<number> {
  const pid = api.pid()!;
  for (let tries = 0; tries < 300; tries++) {
    process.kill(pid, 'SIGSTOP');
    const [row] = await cluster.postgres.query<{ n: string }>('select count(*) as n from outbox where sent_at is null');
    const unsent = Number(row!.n);
    if (unsent > 0) return unsent;
    process.kill(pid, 'SIGCONT');
    await delay(10 + Math.random() * 40);
  }
  throw new Error('never caught the api between a commit and its relay');
}

describe('api faults', () => {
  it('kill -9 between a commit and its relay: the restarted relay delivers the row, one patient each', async () => {
    await onCluster({ apis: 1, workers: 1 }, async (cluster) => {
      const live = await openLiveViews(cluster, 2);
      const [api] = cluster.apis;
      const registrations = flood(cluster, { count: 100, perSecond: 20 });
      await registrations.sent(10);
      const unsentAtKill = await freezeBetweenCommitAndRelay(cluster, api!);
      await api!.stop('SIGKILL');
      await delay(1000);
      await api!.start();
      const faultOver = Date.now();
      const result = await registrations.done;
      const converged = await expectConverged(cluster, result, live, { withinMs: 30_000 });
      report('api kill -9 between commit and relay', {
        unsentAtKill,
        accepted: result.accepted.length,
        requests: result.requests,
        failures: result.failures,
        convergedAfterFaultMs: converged.at - faultOver,
      });
      // Registrants whose answer was lost with the api tried again and got their account, not a 409.
      expect(Object.keys(result.failures).filter((failure) => failure.startsWith('409'))).toEqual([]);
    });
  });

  it(`SIGTERM to an api and then a worker during a flood: each exits 0 within ${SHUTDOWN_MS / 1000} s, live views resume elsewhere with no gap`, async () => {
    await onCluster({ apis: 2, workers: 1 }, async (cluster) => {
      const live = await openLiveViews(cluster, 4);
      const [api] = cluster.apis;
      const [worker] = cluster.workers;
      const registrations = flood(cluster, { count: 120, perSecond: 10 });

      await registrations.sent(40);
      let sentAt = Date.now();
      const apiExit = await api!.stop('SIGTERM');
      const apiExitMs = apiExit.at - sentAt;
      await api!.start();

      await registrations.sent(80);
      sentAt = Date.now();
      const workerExit = await worker!.stop('SIGTERM');
      const workerExitMs = workerExit.at - sentAt;
      await worker!.start();
      const faultOver = Date.now();

      const result = await registrations.done;
      const converged = await expectConverged(cluster, result, live, { withinMs: 30_000 });
      report('SIGTERM during a flood', {
        apiExitMs,
        workerExitMs,
        reconnections: live.views.map((view) => view.connections() - 1),
        accepted: result.accepted.length,
        failures: result.failures,
        convergedAfterFaultMs: converged.at - faultOver,
      });
      expect(apiExit.code).toBe(0);
      expect(apiExitMs).toBeLessThan(SHUTDOWN_MS);
      expect(workerExit.code).toBe(0);
      expect(workerExitMs).toBeLessThan(SHUTDOWN_MS);
      // Requests in flight at the SIGTERM were answered: the only misses are while nothing listened.
      expect(Object.keys(result.failures).filter((failure) => failure !== 'no answer: refused')).toEqual([]);
      // The views on the stopped api moved to the other one.
      expect(live.views.some((view) => view.connections() > 1)).toBe(true);
    });
  });
});
