import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpServer } from '../src/http/server.js';
import { serveMetrics } from '../src/ops/metricsServer.js';
import { silentLogger } from '../src/trpc/context.js';
import { eventually, patientCountsFor, patientInput, startTestPhos, type TestPhos } from './support.js';

const TOKEN = 'metrics-token-for-tests-0123456789abcdef';

/** One sample's value from a scrape, or undefined: `name{labels} value`, labels as Prometheus prints them. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics (issue 10)', () => {
  let phos: TestPhos;
  let server: Awaited<ReturnType<typeof buildHttpServer>>;

  beforeAll(async () => {
    phos = await startTestPhos();
    server = await buildHttpServer({ phos, log: silentLogger, metricsToken: TOKEN });
  });
  afterAll(async () => {
    await server.close();
    await phos.cleanup();
  });

  async function scrape(): Promise<string> {
    const response = await server.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return response.body;
  }

  async function register(): Promise<string> {
    const response = await server.inject({ method: 'POST', url: '/trpc/auth.register', payload: patientInput() });
    expect(response.statusCode).toBe(200);
    return response.json<{ result: { data: { user: { id: string } } } }>().result.data.user.id;
  }

  it('is never public: 401 without the bearer token or with another, and absent when no token is configured', async () => {
    expect((await server.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    const wrong = await server.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).not.toContain('phos_');
    const without = await buildHttpServer({ phos, log: silentLogger });
    try {
      expect((await without.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(
        404,
      );
    } finally {
      await without.close();
    }
  });

  it('moves with a registration: request timing, the outbox backlog, the job outcome, its latency and the event log', async () => {
    const before = await scrape();
    const created = sample(before, 'phos_registration_jobs_total{outcome="patient-created"}') ?? 0;
    const registered = sample(before, 'phos_http_request_duration_seconds_count{procedure="auth.register",status="200"}') ?? 0;
    const head = sample(before, 'phos_event_log_head') ?? 0;

    // With the relay stopped, the committed registration waits in the outbox and the scrape says so.
    await phos.relay.stop();
    const userId = await register();
    const waiting = await scrape();
    expect(sample(waiting, 'phos_outbox_unsent')).toBe(1);
    expect(sample(waiting, 'phos_outbox_oldest_unsent_age_seconds')).toBeGreaterThan(0);
    expect(sample(waiting, 'phos_http_request_duration_seconds_count{procedure="auth.register",status="200"}')).toBe(registered + 1);

    phos.relay.start();
    await phos.relay.kick();
    await eventually(async () => (await patientCountsFor(phos, userId)).entries === 1, 30_000);
    const after = await eventually(async () => {
      const text = await scrape();
      return sample(text, 'phos_registration_jobs_total{outcome="patient-created"}') === created + 1 ? text : undefined;
    }, 30_000);
    expect(sample(after, 'phos_outbox_unsent')).toBe(0);
    expect(sample(after, 'phos_outbox_oldest_unsent_age_seconds')).toBe(0);
    // Timed from the commit, so the time the relay was stopped counts.
    expect(sample(after, 'phos_registration_latency_seconds_count{kind="self"}')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'phos_registration_latency_seconds_sum{kind="self"}')).toBeGreaterThan(0);
    expect(sample(after, 'phos_event_log_head')).toBeGreaterThanOrEqual(head + 2);
    expect(sample(after, 'phos_queue_workers{queue="registrations"}')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'phos_queue_jobs{queue="registrations",state="waiting"}')).toBe(0);
    for (const queue of ['sessions', 'overdue', 'registrations-reconcile']) {
      expect(sample(after, `phos_queue_jobs{queue="${queue}",state="failed"}`)).toBe(0);
      expect(sample(after, `phos_queue_workers{queue="${queue}"}`)).toBeGreaterThanOrEqual(1);
    }
    await eventually(async () => sample(await scrape(), 'phos_event_consumer_lag_events{consumer="notifications"}') === 0, 30_000);
    // Node's own, event-loop lag included.
    expect(sample(after, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('counts a poison job as failed for good and shows it in the queue', async () => {
    const before = await scrape();
    const failedForGood = sample(before, 'phos_registration_jobs_total{outcome="failed_for_good"}') ?? 0;
    const failed = sample(before, 'phos_queue_jobs{queue="registrations",state="failed"}') ?? 0;
    await phos.queue.add('user.registered', { registrationId: 'not-a-uuid' }, { jobId: randomUUID() });
    const text = await eventually(async () => {
      const current = await scrape();
      return sample(current, 'phos_registration_jobs_total{outcome="failed_for_good"}') === failedForGood + 1 ? current : undefined;
    }, 30_000);
    expect(sample(text, 'phos_queue_jobs{queue="registrations",state="failed"}')).toBe(failed + 1);
  });

  it('counts open live views by procedure', async () => {
    const holder = { tokenHash: randomUUID(), userId: randomUUID(), role: 'Provider' as const };
    const stream = phos.services.streams.open(holder, 'queue.onChange');
    expect(sample(await scrape(), 'phos_open_subscriptions{procedure="queue.onChange"}')).toBe(1);
    stream.close();
    expect(sample(await scrape(), 'phos_open_subscriptions{procedure="queue.onChange"}')).toBeUndefined();
  });

  it('exposes every metric the shipped alert rules name', async () => {
    const rules = readFileSync(fileURLToPath(new URL('../../../docs/operations/alerts.yml', import.meta.url)), 'utf8');
    const named = new Set(rules.match(/\b(?:phos|nodejs)_[a-z_0-9]+/g));
    expect(named.size).toBeGreaterThanOrEqual(5);
    const text = await scrape();
    for (const name of named) expect(text, name).toMatch(new RegExp(`^(# TYPE )?${name}[{ ]`, 'm'));
  });

  it('serves the same on a port of its own, for a worker too, and nothing else there', async () => {
    const port = await serveMetrics(phos.metrics, { port: 0, host: '127.0.0.1', log: silentLogger });
    try {
      const response = await fetch(`http://127.0.0.1:${port.port}/metrics`);
      expect(response.status).toBe(200);
      expect(sample(await response.text(), 'phos_outbox_unsent')).toBe(0);
      expect((await fetch(`http://127.0.0.1:${port.port}/`)).status).toBe(404);
    } finally {
      await port.close();
    }
  });
});
