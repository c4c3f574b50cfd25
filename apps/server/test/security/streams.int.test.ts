import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { User } from '@phos/shared';
import { sessions, users } from '../../src/identity/schema.js';
import { hashToken } from '../../src/identity/sessions.js';
import { startEmbeddedRedis } from '../../src/redis/embedded.js';
import { revocationsChannel, servicesUntil, untilSessionEnds } from '../../src/trpc/streams.js';
import {
  callerFor,
  createPatient,
  createStaff,
  deleteRedisKeys,
  eventually,
  freshDatabase,
  startTestPhos,
  type TestPhos,
  trpcError,
  usesPostgres,
} from '../support.js';
import { startPhosApi } from '../processes.js';
import { signInOverHttp } from './http-support.js';
import { serverSentEvents, type ServerSentEvent } from '../sse.js';
import { appCodeOf, callerInSession, openStream, queueStream, sessionOf, timeToEnd } from './session-support.js';

/** The bound: a stream ends within 5 s of its session. */
const WITHIN_MS = 5000;

describe('streams end with their session', () => {
  let phos: TestPhos;
  let admin: User;

  beforeAll(async () => {
    // The periodic check at its production pace; the idle timeout short enough to wait out.
    phos = await startTestPhos({
      sessionPolicy: { staffIdleMs: 3000, patientIdleMs: 3000, absoluteMs: 3_600_000 },
      streamCheckIntervalMs: 1000,
    });
    admin = await createStaff(phos, 'Admin');
  });
  afterAll(() => phos.cleanup());

  /** A Provider signed in, watching the queue: their token and the open stream. */
  async function watchingProvider() {
    const provider = await createStaff(phos);
    const token = await sessionOf(phos, provider);
    const stream = await openStream(phos, token, queueStream);
    await eventually(() => Promise.resolve(phos.services.streams.openCount(hashToken(token)) === 1));
    return { provider, token, stream };
  }

  async function expectSessionEnded(ended: Promise<unknown>) {
    const { ms, outcome } = await timeToEnd(ended);
    expect(appCodeOf(outcome)).toBe('SESSION_ENDED');
    expect(ms).toBeLessThan(WITHIN_MS);
  }

  it('ends the stream with SESSION_ENDED when its session logs out', async () => {
    const { token, stream } = await watchingProvider();
    await (await callerInSession(phos, token)).auth.logout();
    await expectSessionEnded(stream.ended);
    expect(phos.services.streams.openCount(hashToken(token))).toBe(0);
  });

  it('ends the stream when its session idles out, since a stream does not renew its session', async () => {
    const { token, stream } = await watchingProvider();
    // Nothing but the stream runs: the 3 s idle timeout passes, and the check ends it.
    const { ms, outcome } = await timeToEnd(stream.ended);
    expect(appCodeOf(outcome)).toBe('SESSION_ENDED');
    expect(ms).toBeLessThan(3000 + WITHIN_MS);
    expect(await callerInSession(phos, token).then((caller) => caller.auth.me())).toBeNull();
  });

  it('keeps the stream while other requests of its session keep the session active', async () => {
    const { token, stream } = await watchingProvider();
    let settled = false;
    void stream.ended.then(() => (settled = true));
    // Activity every 500 ms for twice the idle timeout.
    for (let elapsed = 0; elapsed < 6000; elapsed += 500) {
      await (await callerInSession(phos, token)).auth.me();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(settled).toBe(false);
    stream.close();
    expect(await stream.ended).toBe('done');
  });

  it('ends the stream when an Admin disables the account', async () => {
    const { provider, stream } = await watchingProvider();
    await callerFor(phos, admin).admin.disableAccount({ id: provider.id });
    await expectSessionEnded(stream.ended);
  });

  it("ends the stream when an Admin changes the account's role", async () => {
    const { provider, stream } = await watchingProvider();
    await callerFor(phos, admin).admin.changeRole({ id: provider.id, role: 'Admin' });
    await expectSessionEnded(stream.ended);
  });

  it('ends the stream on the periodic check alone: account disabled or role changed behind its back', async () => {
    const disabled = await watchingProvider();
    const promoted = await watchingProvider();
    // Straight in the database: no session deleted, no revocation published.
    await phos.services.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, disabled.provider.id));
    await phos.services.db.update(users).set({ role: 'Admin' }).where(eq(users.id, promoted.provider.id));
    await expectSessionEnded(disabled.stream.ended);
    await expectSessionEnded(promoted.stream.ended);
  });

  it('does not end a stream whose session opened its first stream while a check was running', async () => {
    const first = await watchingProvider();
    const latecomer = await createStaff(phos);
    const holder = { tokenHash: hashToken(await sessionOf(phos, latecomer)), userId: latecomer.id, role: 'Provider' as const };
    // The check asks about the sessions open now; the latecomer's arrives before its answer.
    const checking = phos.services.streams.check();
    const stream = phos.services.streams.open(holder);
    try {
      await checking;
      expect(stream.wasEnded()).toBeNull();
      await phos.services.streams.check();
      expect(stream.wasEnded()).toBeNull();
    } finally {
      stream.close();
      first.stream.close();
    }
  });

  it("ends a Patient's own streams too", async () => {
    const patient = await createPatient(phos);
    const token = await sessionOf(phos, patient);
    const stream = await openStream(phos, token, (caller) => caller.visit.onMine());
    await (await callerInSession(phos, token)).auth.signOutEverywhere();
    await expectSessionEnded(stream.ended);
  });

  it('releases what an ended stream was waiting on: its hub listener and its resolver', async () => {
    const provider = await createStaff(phos);
    const token = await sessionOf(phos, provider);
    const stream = phos.services.streams.open({ tokenHash: hashToken(token), userId: provider.id, role: 'Provider' });
    let resolverFinished = false;
    // A subscription as every router writes one: waiting on the hub for the next batch.
    const resolver = (async function* () {
      try {
        for await (const batch of servicesUntil(phos.services, stream.signal).hub.listen(undefined)) yield batch;
      } finally {
        resolverFinished = true;
      }
    })();
    // Batches from earlier tests' events may still arrive: read until the stream ends.
    const drained = (async () => {
      for await (const _batch of untilSessionEnds(resolver, stream));
    })();
    await (await callerInSession(phos, token)).auth.logout();
    expect(
      appCodeOf(
        await drained.then(
          () => undefined,
          (error: unknown) => error,
        ),
      ),
    ).toBe('SESSION_ENDED');
    await eventually(() => Promise.resolve(resolverFinished));
    expect(phos.services.streams.openCount(hashToken(token))).toBe(0);
  });
});

describe('streams per session', () => {
  let phos: TestPhos;

  beforeAll(async () => {
    phos = await startTestPhos();
  });
  afterAll(() => phos.cleanup());

  it('refuses the 11th stream of a session with TOO_MANY_STREAMS, and a closed one frees its slot', async () => {
    const provider = await createStaff(phos);
    const token = await sessionOf(phos, provider);
    const streams = [];
    for (let i = 0; i < 10; i += 1) streams.push(await openStream(phos, token, queueStream));
    expect(phos.services.streams.openCount(hashToken(token))).toBe(10);

    const refused = await trpcError(callerInSession(phos, token, { renew: false }).then(queueStream));
    expect(refused.code).toBe('TOO_MANY_REQUESTS');
    expect(appCodeOf(refused)).toBe('TOO_MANY_STREAMS');

    // Another session of the same user has its own slots.
    const elsewhere = await openStream(phos, await sessionOf(phos, provider), queueStream);

    streams[0]!.close();
    expect(await streams[0]!.ended).toBe('done');
    expect(phos.services.streams.openCount(hashToken(token))).toBe(9);
    const reopened = await openStream(phos, token, queueStream);
    expect(phos.services.streams.openCount(hashToken(token))).toBe(10);

    for (const stream of [...streams, elsewhere, reopened]) stream.close();
    await Promise.all([...streams, elsewhere, reopened].map((stream) => stream.ended));
    expect(phos.services.streams.openCount()).toBe(0);
  });
});

describe('while Redis is away', () => {
  it('streams still end with their session, and the revocation channel is back once Redis is', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'phos-redis-away-'));
    let redis = await startEmbeddedRedis(dir);
    const phos = await startTestPhos({ redis: { path: redis.socketPath }, runs: 'api', streamCheckIntervalMs: 1000 });
    try {
      const provider = await createStaff(phos);
      const [signedOut, disabled] = [await sessionOf(phos, provider), await sessionOf(phos, await createStaff(phos))];
      const streams = [await openStream(phos, signedOut, queueStream), await openStream(phos, disabled, queueStream)];
      await redis.stop();

      await (await callerInSession(phos, signedOut)).auth.logout();
      const { outcome, ms } = await timeToEnd(streams[0]!.ended);
      expect(appCodeOf(outcome)).toBe('SESSION_ENDED');
      expect(ms).toBeLessThan(5000);
      // No message could be published: the periodic check alone ends this one.
      await phos.services.db
        .update(users)
        .set({ disabledAt: new Date() })
        .where(eq(users.id, (await holderOf(phos, disabled)).userId));
      const second = await timeToEnd(streams[1]!.ended);
      expect(appCodeOf(second.outcome)).toBe('SESSION_ENDED');
      expect(second.ms).toBeLessThan(5000);

      redis = await startEmbeddedRedis(dir);
      const probe = new Redis({ path: redis.socketPath });
      try {
        await eventually(async () => {
          const [, subscribers] = (await probe.pubsub('NUMSUB', revocationsChannel(phos.prefix))) as [string, number];
          return subscribers === 1;
        });
      } finally {
        probe.disconnect();
      }
    } finally {
      await phos.cleanup();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function holderOf(phos: TestPhos, token: string) {
  const [row] = await phos.services.db
    .select()
    .from(sessions)
    .where(eq(sessions.tokenHash, hashToken(token)));
  if (!row) throw new Error('no such session');
  return row;
}

/** A Phos api process of its own, as production runs several. */
async function startApiProcess(env: Record<string, string>): Promise<{ url: string; stop: () => Promise<void> }> {
  const api = await startPhosApi({ ...env, PHOS_ROLE: 'api' });
  return {
    url: api.url,
    stop: async () => {
      api.signal('SIGTERM');
      await api.exited;
    },
  };
}

describe('across two api processes', () => {
  const redis = inject('redisTarget');
  // Two processes share one database only on a PostgreSQL server, and one Redis only by URL.
  it.runIf(usesPostgres && 'url' in redis)(
    'a logout on instance A ends the stream open on instance B with SESSION_ENDED within 5 s',
    async () => {
      const database = await freshDatabase();
      const prefix = `phos-test-${randomUUID()}`;
      const admin = { email: 'two-instances@example.com', password: 'Quartz-Plover-Mangrove-81' };
      const env = {
        DATABASE_URL: 'url' in database.config ? database.config.url : '',
        REDIS_URL: 'url' in redis ? redis.url : '',
        PHOS_REDIS_PREFIX: prefix,
        PHOS_ADMIN_EMAIL: admin.email,
        PHOS_ADMIN_PASSWORD: admin.password,
      };
      const instances = await Promise.all([startApiProcess(env), startApiProcess(env)]);
      const [a, b] = instances;
      const stream = new AbortController();
      try {
        const cookie = await signInOverHttp(a.url, admin);

        const opened = await fetch(`${b.url}/trpc/queue.onChange`, {
          headers: { cookie, accept: 'text/event-stream' },
          signal: stream.signal,
        });
        expect(opened.status).toBe(200);
        const events = serverSentEvents(opened.body!);
        expect((await events.next()).value).toMatchObject({ event: 'connected' });

        const logout = await fetch(`${a.url}/trpc/auth.logout`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', cookie },
          body: '{}',
        });
        expect(logout.status).toBe(200);
        const loggedOutAt = Date.now();

        let ending: ServerSentEvent | undefined;
        for await (const event of events) {
          if (event.event === 'ping') continue;
          ending = event;
          break;
        }
        expect(Date.now() - loggedOutAt).toBeLessThan(5000);
        expect(ending?.event).toBe('serialized-error');
        expect(JSON.parse(ending!.data)).toMatchObject({ data: { appCode: 'SESSION_ENDED' } });
      } finally {
        stream.abort();
        await Promise.all(instances.map((instance) => instance.stop()));
        await deleteRedisKeys(redis, prefix).catch(() => undefined);
        await database.drop();
      }
    },
    120_000,
  );
});
