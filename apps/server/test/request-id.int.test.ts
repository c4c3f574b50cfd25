import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { REGISTRATIONS_QUEUE, type RegistrationJobData } from '../src/jobs/registrations.js';
import { killAllPhosProcesses, sharedBackends, startPhosApi, startPhosWorker } from './processes.js';
import { eventually, patientInput } from './support.js';

afterAll(killAllPhosProcesses);

/** Generous: two Phos processes start with tsx on two busy cores. */
const WAIT_MS = 120_000;

/** The JSON log lines of a process's output that mention `text`. */
function linesWith(output: string, text: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes(text))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('one request id from click to push (issue 10)', () => {
  it(
    'a registration sent with X-Request-Id carries it to the outbox row, the job, the api and worker logs, and its events',
    { timeout: 300_000 },
    async (context) => {
      const backends = await sharedBackends(context, {
        PHOS_ADMIN_EMAIL: 'request-id-admin@example.com',
        PHOS_ADMIN_PASSWORD: 'Quartz-Plover-Mangrove-81',
      });
      const { databaseUrl, redisUrl, prefix, env } = backends;
      const client = new pg.Client({ connectionString: databaseUrl });
      const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
      const queue = new Queue<RegistrationJobData>(REGISTRATIONS_QUEUE, { connection, prefix });
      try {
        const api = await startPhosApi(env('api'), { startTimeoutMs: WAIT_MS });
        const worker = await startPhosWorker(env('worker'), { startTimeoutMs: WAIT_MS });
        await client.connect();

        const requestId = `click-${randomUUID()}`;
        const input = patientInput();
        const response = await fetch(`${api.url}/trpc/auth.register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': requestId },
          body: JSON.stringify(input),
        });
        expect(response.status).toBe(200);
        expect(response.headers.get('x-request-id')).toBe(requestId);

        // The outbox row names the request; the job the relay made from it carries it too.
        const { rows: outboxRows } = await client.query<{ id: string; type: string }>('select id, type from outbox where request_id = $1', [
          requestId,
        ]);
        expect(outboxRows.map((row) => row.type)).toEqual(['user.registered']);
        const registrationId = outboxRows[0]!.id;
        await eventually(async () => (await queue.getJobState(registrationId)) === 'completed', WAIT_MS);
        const job = await queue.getJob(registrationId);
        expect(job?.data).toEqual({ registrationId, requestId });

        // Both processes' logs name it: the api where the request came in, the worker where the job ran.
        await worker.printed(new RegExp(`"requestId":"${requestId}"[^\\n]*registration job done`), WAIT_MS);
        const done = linesWith(worker.output(), requestId).find((line) => line.msg === 'registration job done');
        expect(done).toMatchObject({ requestId, registrationId, outcome: 'patient-created' });
        expect(
          linesWith(api.output(), requestId).some((line) => line.msg === 'patient registered' && line.registrationId === registrationId),
        ).toBe(true);
        // Ids only: the patient's name never shows in either log.
        expect(api.output() + worker.output()).not.toContain(input.lastName);

        // The events the job appended name it in their metadata, so a push can be traced back.
        const { rows: events } = await client.query<{ type: string }>(
          "select type from event_log where metadata->>'requestId' = $1 order by id",
          [requestId],
        );
        expect(events.map((event) => event.type)).toEqual(['patient.created', 'queue.entry.added']);
      } finally {
        await queue.close();
        connection.disconnect();
        await client.end().catch(() => undefined);
        await backends.cleanup();
      }
    },
  );
});
