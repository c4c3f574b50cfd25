/** The campaign's findings that need more than a kill: each one, under a flood, on real servers. */
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CLINIC_STREAM } from '../src/events/log.js';
import { expectConverged, expectNoHealthDataIn, expectNoHealthDataInRedis } from './checks.js';
import { callNextPatient, flood, openLiveViews } from './clients.js';
import { freezeMidJob, onCluster, report, untilJobActive, type FaultCluster } from './cluster.js';
import { until } from './servers.js';

/**
 * A transaction of the test's own that holds the clinic's event counter (every append waits on
 * it), as a stuck or slow writer would; `release` commits it.
 */
async function holdEventCounter(cluster: FaultCluster): Promise<{ release: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: cluster.postgres.url });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('begin');
  await client.query('lock table event_streams in exclusive mode');
  return {
    async release() {
      await client.query('commit');
      await client.end();
    },
  };
}

describe('the findings', () => {
  it('1. a job whose worker dies twice while it runs is not lost: it runs again, once', async () => {
    await onCluster({ apis: 1, workers: 1 }, async (cluster) => {
      const live = await openLiveViews(cluster, 1);
      const [worker] = cluster.workers;
      // The job cannot finish while the counter is held: each attempt stays active ~2 s (lock_timeout).
      const counter = await holdEventCounter(cluster);
      const registrations = flood(cluster, { count: 1, perSecond: 1 });
      for (let death = 0; death < 2; death++) {
        await freezeMidJob(cluster, worker!, 30_000);
        await worker!.stop('SIGKILL');
        await worker!.start();
        // Found stalled (its lock lapsed) and taken again by the new process, which is then killed.
        await worker!.printed(/registration job stalled/, 30_000);
      }
      await untilJobActive(cluster, 30_000);
      await counter.release();
      const result = await registrations.done;
      const converged = await expectConverged(cluster, result, live, { withinMs: 30_000 });
      expect(cluster.output()).not.toMatch(/failed for good/);
      await expectNoHealthDataInRedis(cluster, result);
      report('worker died twice during one job', { convergedMs: converged.ms });
    });
  });

  it('1. a job whose data is malformed fails loudly, and the reconciler re-delivers its registration', async () => {
    await onCluster({ apis: 1, workers: 1 }, async (cluster) => {
      const live = await openLiveViews(cluster, 1);
      const [worker] = cluster.workers;
      await worker!.stop('SIGTERM');
      const result = await flood(cluster, { count: 1, perSecond: 1 }).done;
      const [registration] = await cluster.postgres.query<{ id: string }>(`select id from outbox where payload->>'userId' = $1`, [
        result.accepted[0]!.userId,
      ]);
      const jobKey = `phos:registrations:${registration!.id}`;
      await until('the job in Redis', async () => Number(await cluster.redis.call('EXISTS', jobKey)) === 1);
      await cluster.redis.call('HSET', jobKey, 'data', '{"registrationId":42}');
      await worker!.start();
      // Re-delivered within the reconciler's interval (5 s) after its grace (10 s) has passed.
      const converged = await expectConverged(cluster, result, live, { withinMs: 40_000 });
      const failedLoudly = cluster
        .output()
        .split('\n')
        .filter((line) => line.includes(registration!.id) && line.includes('"level":50'));
      expect(failedLoudly.length).toBeGreaterThan(0);
      report('malformed job data', { convergedMs: converged.ms, errorLines: failedLoudly.length });
    });
  });

  it('3. an event a newer build wrote mid-flood is skipped by every view, which serve the rest in order', async () => {
    await onCluster({ apis: 2, workers: 1 }, async (cluster) => {
      const live = await openLiveViews(cluster, 4);
      const registrations = flood(cluster, { count: 60, perSecond: 10 });
      await registrations.sent(20);
      // As a newer worker appends it: through the counter, so its id sits between the others.
      const [unknown] = await cluster.postgres.query<{ id: string }>(
        `with next as (update event_streams set last_id = last_id + 1 where stream = $1 returning last_id)
         insert into event_log (id, type, version, payload) select last_id, 'queue.entry.teleported', 1, '{"to":"mars"}' from next returning id`,
        [CLINIC_STREAM],
      );
      const result = await registrations.done;
      const converged = await expectConverged(cluster, result, live, { withinMs: 30_000 });
      for (const view of live.views) expect(view.received()).not.toContain(BigInt(unknown!.id));
      // Logged once per process that read it (each api's hub, the worker's notifier), with its id.
      const skipped = cluster
        .output()
        .split('\n')
        .filter((line) => line.includes(`"eventId":"${unknown!.id}"`) && line.includes('cannot read'));
      expect(skipped.length).toBeGreaterThanOrEqual(2);
      expect(skipped.length).toBeLessThanOrEqual(3);
      expect(cluster.output()).not.toContain('mars');
      report('unreadable event', { eventId: unknown!.id, convergedMs: converged.ms });
    });
  });

  it('4. a writer stuck holding the event counter for 8 s: staff are told BUSY within 4 s, registrations keep coming, all converge after', async () => {
    await onCluster({ apis: 1, workers: 1 }, async (cluster) => {
      const live = await openLiveViews(cluster, 2);
      const registrations = flood(cluster, { count: 80, perSecond: 8 });
      await registrations.sent(10);
      await until('a patient waiting', async () => (await cluster.postgres.query('select 1 from queue_entries')).length > 0);
      const counter = await holdEventCounter(cluster);
      await delay(500);
      const move = await callNextPatient(cluster, live.cookie);
      await delay(7500);
      await counter.release();
      const faultOver = Date.now();
      const result = await registrations.done;
      const converged = await expectConverged(cluster, result, live, { withinMs: 30_000 });
      report('event counter held 8 s', {
        move,
        accepted: result.accepted.length,
        failures: result.failures,
        convergedAfterFaultMs: converged.at - faultOver,
      });
      expect(move.outcome).toBe('503 BUSY');
      expect(move.ms).toBeLessThan(4000);
      // Registration needs no counter: nobody was turned away for it.
      expect(result.accepted.every((registrant) => registrant.attempts === 1)).toBe(true);
    });
  });

  it('7. jobs that failed on a database error keep ids and codes in Redis, never a name or an email', async () => {
    await onCluster({ apis: 1, workers: 1 }, async (cluster) => {
      const live = await openLiveViews(cluster, 1);
      // Every attempt meanwhile fails (lock_timeout) and is retried: failed attempts with reasons.
      const counter = await holdEventCounter(cluster);
      const result = await flood(cluster, { count: 10, perSecond: 5 }).done;
      await until('failed attempts', () => cluster.output().includes('it will be retried'), 30_000);
      const redis = await expectNoHealthDataInRedis(cluster, result);
      // Not vacuous: the failed attempts' reasons and stack traces are there, and name the SQLSTATE.
      expect(redis).toContain('55P03');
      await counter.release();
      await expectConverged(cluster, result, live, { withinMs: 60_000 });
      expectNoHealthDataIn(cluster.output(), result);
    });
  });
});
