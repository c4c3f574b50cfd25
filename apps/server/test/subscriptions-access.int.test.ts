import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '@phos/shared';
import { callerFor, createPatient, createStaff, startTestPhos, type TestPhos } from './support.js';

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TRPCError) return error.code;
    throw error;
  }
  return 'OK';
}

/** Every subscription checks its caller before it streams anything. */
describe('who may open each subscription', () => {
  let phos: TestPhos;
  let patient: User;
  let provider: User;

  beforeAll(async () => {
    phos = await startTestPhos();
    patient = await createPatient(phos);
    provider = await createStaff(phos);
  });
  afterAll(() => phos.cleanup());

  const subscriptions = {
    'queue.onChange': (user: User | null) => callerFor(phos, user).queue.onChange(),
    'patients.onChange': (user: User | null) => callerFor(phos, user).patients.onChange({ id: randomUUID() }),
    'notifications.onNew': (user: User | null) => callerFor(phos, user).notifications.onNew(),
    'visit.onMine': (user: User | null) => callerFor(phos, user).visit.onMine(),
    'carePlans.onMine': (user: User | null) => callerFor(phos, user).carePlans.onMine(),
    'registrant.onStatus': (user: User | null) => callerFor(phos, user).registrant.onStatus(),
  };

  const expected: Record<keyof typeof subscriptions, [anonymous: string, patient: string, provider: string]> = {
    'queue.onChange': ['UNAUTHORIZED', 'FORBIDDEN', 'OK'],
    'patients.onChange': ['UNAUTHORIZED', 'FORBIDDEN', 'OK'],
    'notifications.onNew': ['UNAUTHORIZED', 'OK', 'OK'],
    'visit.onMine': ['UNAUTHORIZED', 'OK', 'FORBIDDEN'],
    'carePlans.onMine': ['UNAUTHORIZED', 'OK', 'FORBIDDEN'],
    'registrant.onStatus': ['UNAUTHORIZED', 'OK', 'FORBIDDEN'],
  };

  it.each(Object.keys(subscriptions) as (keyof typeof subscriptions)[])('%s', async (name) => {
    const codes = [];
    for (const user of [null, patient, provider]) codes.push(await codeOf(subscriptions[name](user)));
    expect(codes).toEqual(expected[name]);
  });
});
