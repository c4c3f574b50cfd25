import { randomUUID } from 'node:crypto';
import { count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outbox } from '../../src/outbox/schema.js';
import { buildHttpServer } from '../../src/http/server.js';
import { users } from '../../src/identity/schema.js';
import { createUser } from '../../src/identity/users.js';
import { errorSerializer } from '../../src/logging.js';
import { silentLogger } from '../../src/trpc/context.js';
import { patientInput, startTestPhos } from '../support.js';
import { signedIn } from './http-support.js';

type ErrorBody = { error: { data: { code: string; zodError: { fieldErrors: Record<string, string[]> } | null } } };

describe('names and free text refuse hidden characters (ASVS V5.1.3, V5.1.4)', () => {
  let phos: Awaited<ReturnType<typeof startTestPhos>>;
  let server: Awaited<ReturnType<typeof buildHttpServer>>;

  beforeAll(async () => {
    phos = await startTestPhos();
    server = await buildHttpServer({ phos, log: silentLogger });
  });
  afterAll(async () => {
    await server.close();
    await phos.cleanup();
  });

  async function rowCounts() {
    const [userRows] = await phos.services.db.select({ n: count() }).from(users);
    const [outboxRows] = await phos.services.db.select({ n: count() }).from(outbox);
    return { users: userRows?.n, outbox: outboxRows?.n };
  }

  it('refuses a NUL byte in a name as BAD_REQUEST on that field, and writes nothing', async () => {
    const before = await rowCounts();
    const response = await server.inject({
      method: 'POST',
      url: '/trpc/auth.register',
      payload: patientInput({ firstName: 'Ada\u0000' }),
    });
    expect(response.statusCode).toBe(400);
    const body = response.json<ErrorBody>();
    expect(body.error.data.code).toBe('BAD_REQUEST');
    expect(body.error.data.zodError?.fieldErrors).toEqual({ firstName: ['Contains control characters'] });
    expect(await rowCounts()).toEqual(before);
  });

  it('applies the shared fields to every free-text input: rooms, walk-ins, triage notes, care plans, reasons', async () => {
    const admin = await signedIn(server, phos, 'Admin');
    const provider = await signedIn(server, phos, 'Provider');
    const id = randomUUID();
    const cases = [
      { procedure: 'admin.createRoom', cookie: admin.cookie, input: { name: 'Room\u202E1' }, field: 'name' },
      {
        procedure: 'patients.registerWalkIn',
        cookie: provider.cookie,
        input: { firstName: 'Wanda', lastName: '\u200B\u200D', dateOfBirth: '1968-08-08' },
        field: 'lastName',
      },
      {
        procedure: 'patients.registerWalkIn',
        cookie: provider.cookie,
        input: { firstName: 'Wanda', lastName: 'Walkin', dateOfBirth: '1968-08-08', phone: '0201\n234567' },
        field: 'phone',
      },
      {
        procedure: 'queue.triage',
        cookie: provider.cookie,
        input: { entryId: id, expectedVersion: 1, acuity: 3, note: 'ok \u2066x' },
        field: 'note',
      },
      {
        procedure: 'carePlans.draft',
        cookie: provider.cookie,
        input: { patientId: id, title: 'Plan\nB', goals: 'Rest', instructions: 'Fluids\u0000' },
        field: 'title',
      },
      { procedure: 'carePlans.reject', cookie: provider.cookie, input: { planId: id, reason: '\uFEFF\u2060' }, field: 'reason' },
    ];
    for (const { procedure, cookie, input, field } of cases) {
      const response = await server.inject({ method: 'POST', url: `/trpc/${procedure}`, headers: { cookie }, payload: input });
      expect({ procedure, status: response.statusCode }).toEqual({ procedure, status: 400 });
      expect(Object.keys(response.json<ErrorBody>().error.data.zodError?.fieldErrors ?? {})).toContain(field);
    }
  });

  it('keeps the values out of the log even for input the database itself refuses (a NUL byte past validation)', async () => {
    const input = { ...patientInput({ lastName: 'Null\u0000Byte' }), role: 'Patient' as const };
    const failure = await createUser(phos.services.db, input).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    const logged = JSON.stringify(errorSerializer(failure as Error));
    expect(logged).toContain('Failed query');
    for (const secret of [input.email, 'Null', '$argon2', input.password]) expect(logged).not.toContain(secret);
  });
});
