import type { Queue } from 'bullmq';

/**
 * Runs `jobName` every `everyMs` under one scheduler id: every worker process upserts the same
 * id, so however many run, one job runs per interval. Their last 100 runs are kept for a look.
 */
export async function scheduleEvery(queue: Queue, schedulerId: string, jobName: string, everyMs: number): Promise<void> {
  await queue.upsertJobScheduler(
    schedulerId,
    { every: everyMs },
    { name: jobName, data: {}, opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
  );
}
