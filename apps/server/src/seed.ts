import { setTimeout as delay } from 'node:timers/promises';
import type { CreateUserInput, Role } from '@phos/shared';
import { configFromEnv, startPhos, type Phos } from './app.js';
import { ensurePrivateDir, keepNewFilesPrivate } from './data-dir.js';
import { loadEnv } from './env.js';
import { AppError } from './errors.js';
import { createUser, findUserByEmail } from './identity/users.js';
import { findPatientByUserId } from './patients/patients.js';
import { createLogger } from './logging.js';

/** Development data only: every demo account shares this password, and the table below prints it. */
const DEMO_PASSWORD = 'phos-demo-password';
const PATIENT_WAIT_MS = 30_000;

type DemoAccount = Omit<CreateUserInput, 'password'>;

const accounts: DemoAccount[] = [
  { email: 'admin@phos.test', role: 'Admin', firstName: 'Ada', lastName: 'Okafor' },
  { email: 'dr.lindqvist@phos.test', role: 'Provider', firstName: 'Maja', lastName: 'Lindqvist' },
  { email: 'dr.haddad@phos.test', role: 'Provider', firstName: 'Samir', lastName: 'Haddad' },
  { email: 'eleanor.whitfield@phos.test', role: 'Patient', firstName: 'Eleanor', lastName: 'Whitfield', dateOfBirth: '1948-03-12' },
  { email: 'mateo.alvarez@phos.test', role: 'Patient', firstName: 'Mateo', lastName: 'Álvarez', dateOfBirth: '1991-11-27' },
  { email: 'priya.raman@phos.test', role: 'Patient', firstName: 'Priya', lastName: 'Raman', dateOfBirth: '1985-06-04' },
  { email: 'kwame.mensah@phos.test', role: 'Patient', firstName: 'Kwame', lastName: 'Mensah', dateOfBirth: '1972-09-18' },
  { email: 'hannah.schultz@phos.test', role: 'Patient', firstName: 'Hannah', lastName: 'Schultz', dateOfBirth: '2003-01-30' },
  { email: 'yuki.tanaka@phos.test', role: 'Patient', firstName: 'Yuki', lastName: 'Tanaka', dateOfBirth: '1960-08-09' },
];

interface Seeded {
  account: DemoAccount;
  userId: string;
  outcome: 'created' | 'existed';
}

/** Creates the account through identity, as a real registration would, or finds the one there. */
async function seedAccount(phos: Phos, account: DemoAccount): Promise<Seeded> {
  const { db } = phos.services;
  try {
    const { user } = await createUser(db, { ...account, password: DEMO_PASSWORD });
    phos.services.kickRelay();
    return { account, userId: user.id, outcome: 'created' };
  } catch (error) {
    if (!(error instanceof AppError && error.appCode === 'EMAIL_TAKEN')) throw error;
    const existing = await findUserByEmail(db, account.email);
    if (!existing) throw new Error(`${account.email} was taken but cannot be found`, { cause: error });
    if (existing.role !== account.role) {
      throw new Error(`${account.email} already exists as ${existing.role}, not ${account.role}`, { cause: error });
    }
    return { account, userId: existing.id, outcome: 'existed' };
  }
}

/** The worker turns each Patient registration into a patient record; wait until it has. */
async function waitForPatients(phos: Phos, userIds: readonly string[]): Promise<void> {
  const deadline = Date.now() + PATIENT_WAIT_MS;
  let pending = [...userIds];
  while (pending.length > 0) {
    const found = await Promise.all(pending.map((id) => findPatientByUserId(phos.services.db, id)));
    pending = pending.filter((_, index) => found[index] === undefined);
    if (pending.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${pending.length} seeded patient(s) had no patient record after ${PATIENT_WAIT_MS / 1000} s: is the worker running?`,
      );
    }
    phos.services.kickRelay();
    await delay(200);
  }
}

function printSignIns(seeded: readonly Seeded[]): void {
  const order: Record<Role, number> = { Admin: 0, Provider: 1, Patient: 2 };
  const rows = [...seeded]
    .sort((a, b) => order[a.account.role] - order[b.account.role])
    .map(({ account, outcome }) => ({
      role: account.role,
      name: `${account.firstName} ${account.lastName}`,
      email: account.email,
      seeded: outcome === 'created' ? 'now' : 'before',
    }));
  console.log('\nDemo accounts (development only), all with the password:', DEMO_PASSWORD);
  console.table(rows);
}

keepNewFilesPrivate();
const env = loadEnv();
if (!env.DATABASE_URL || !env.REDIS_URL) ensurePrivateDir(env.PHOS_DATA_DIR);
// Quieter than the server by default, so the sign-in table is what the terminal shows.
const log = createLogger({ level: env.LOG_LEVEL === 'info' ? 'warn' : env.LOG_LEVEL, base: { service: 'phos-seed' } });
const phos = await startPhos({ ...configFromEnv(env, log), runs: 'all' });

let failed = false;
try {
  const seeded: Seeded[] = [];
  // One at a time: argon2id hashing is deliberately costly, and the order reads well in the queue.
  for (const account of accounts) seeded.push(await seedAccount(phos, account));
  await waitForPatients(
    phos,
    seeded.filter((entry) => entry.account.role === 'Patient').map((entry) => entry.userId),
  );
  printSignIns(seeded);
} catch (error) {
  failed = true;
  log.error({ err: error }, 'seeding failed');
} finally {
  await phos.close();
}
process.exit(failed ? 1 : 0);
