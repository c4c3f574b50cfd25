import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { expectConverged, expectNoHealthDataIn, expectNoHealthDataInRedis } from './checks.js';
import { flood, openLiveViews } from './clients.js';
import { freezeMidJob, onCluster, report } from './cluster.js';
import { until } from './servers.js';

/** The bound on recovery after a worker crash: lock 4 s, then the next stall check (2 s). */
const RECOVERY_MS = 10_000;

describe('a worker killed mid-job', () => {
  it('kill -9 during a flood, then a crash loop: every registration becomes one patient, every view sees each change once', async () => {
    await onCluster({ apis: 1, workers: 1 }, async (cluster) => {
      const live = await openLiveViews(cluster, 3);
      const [worker] = cluster.workers;
      // Long enough (40 s) to outlast the crash loop on a busy machine: each crash waits for a job to be
      // running, and with the flood over and its backlog drained there would be none (failed once in CI).
      const registrations = flood(cluster, { count: 240, perSecond: 6 });

      await registrations.sent(20);
      // A crash loop: killed with a job running, four times, restarted each time.
      for (let crash = 0; crash < 4; crash++) {
        await freezeMidJob(cluster, worker!);
        await worker!.stop('SIGKILL');
        await delay(500);
        await worker!.start();
        // The job it held comes back through stall detection (its lock lapses) before the next crash.
        await worker!.printed(/registration job stalled/, 30_000);
      }
      const faultOver = Date.now();
      const result = await registrations.done;
      const converged = await expectConverged(cluster, result, live, { withinMs: 30_000 });
      expectNoHealthDataIn(cluster.output(), result);
      await expectNoHealthDataInRedis(cluster, result);
      report('worker kill -9 mid-job, crash loop of 4', {
        accepted: result.accepted.length,
        requests: result.requests,
        convergedAfterFaultMs: converged.at - faultOver,
      });
    });
  });

  it(`a job whose worker dies is finished by another worker within ${RECOVERY_MS / 1000} s`, async () => {
    await onCluster({ apis: 1, workers: 2 }, async (cluster) => {
      const [doomed, standby] = cluster.workers;
      const live = await openLiveViews(cluster, 1);
      // Only the doomed worker takes jobs: the standby is frozen until the crash.
      process.kill(standby!.pid()!, 'SIGSTOP');
      const registrations = flood(cluster, { count: 20, perSecond: 10 });
      await registrations.sent(5);
      const [jobId] = await freezeMidJob(cluster, doomed!);
      const killedAt = Date.now();
      await doomed!.stop('SIGKILL');
      process.kill(standby!.pid()!, 'SIGCONT');
      await until(
        `job ${jobId!} to produce its queue entry`,
        async () => (await cluster.postgres.query('select 1 from queue_entries where registration_id = $1', [jobId])).length === 1,
        RECOVERY_MS * 2,
        50,
      );
      const recoveredMs = Date.now() - killedAt;
      const result = await registrations.done;
      await expectConverged(cluster, result, live, { withinMs: 30_000 });
      report('a job whose worker died, finished by the standby', { recoveredMs });
      expect(recoveredMs).toBeLessThanOrEqual(RECOVERY_MS);
    });
  });
});
