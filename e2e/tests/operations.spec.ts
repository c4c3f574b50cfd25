import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request as playwrightRequest } from '@playwright/test';
import pg from 'pg';
import { apiOver, expect, signIn, test, uniquePerson } from '../fixtures';

/**
 * Breaking one registration takes a database the test can alter while Phos runs: PGlite (the
 * suite's server) is private to its process. So this spec starts a Phos of its own on a database
 * of its own in the PostgreSQL server at E2E_DATABASE_URL, with its own embedded Redis.
 */
const serverUrl = process.env.E2E_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const webDir = process.env.E2E_WEB_DIR ?? path.resolve(import.meta.dirname, '../../apps/web/dist');
const admin = { email: 'ops-admin@phos.test', password: `ops-admin-${randomUUID()}` };
const database = `phos_e2e_ops_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

function databaseUrl(name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function sql(text: string, url = databaseUrl(database)): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function reachable(): Promise<boolean> {
  try {
    await sql('select 1', serverUrl);
    return true;
  } catch {
    return false;
  }
}

let phos: ChildProcess | undefined;
let baseURL = '';
let dataDir = '';
let output = '';

test.describe('failed registrations on the Operations page', () => {
  test.beforeAll(async () => {
    // CI has PostgreSQL; a newcomer's `npm test` may not, and is told why this spec did not run.
    const available = await reachable();
    test.skip(!available && !process.env.CI, `needs PostgreSQL at ${serverUrl} (set E2E_DATABASE_URL)`);
    await sql(`create database ${database}`, serverUrl);
    dataDir = mkdtempSync(path.join(tmpdir(), 'phos-e2e-ops-'));
    const port = await freePort();
    baseURL = `http://127.0.0.1:${port}`;
    // Node itself, not npx: SIGTERM must reach Phos, which closes its connections before the database is dropped.
    phos = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: path.resolve(import.meta.dirname, '../../apps/server'),
      env: {
        ...process.env,
        NODE_ENV: 'test',
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        DATABASE_URL: databaseUrl(database),
        PHOS_DATA_DIR: dataDir,
        PHOS_WEB_DIR: webDir,
        PHOS_ADMIN_EMAIL: admin.email,
        PHOS_ADMIN_PASSWORD: admin.password,
      },
      stdio: ['ignore', process.env.E2E_OPS_LOG ? 'inherit' : 'ignore', 'pipe'],
    });
    phos.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await expect
      .poll(async () => (await fetch(`${baseURL}/readyz`).catch(() => undefined))?.status, { timeout: 120_000, message: output })
      .toBe(200);
  });

  test.afterAll(async () => {
    if (phos && phos.exitCode === null) {
      const exited = new Promise((resolve) => phos?.once('exit', resolve));
      phos.kill('SIGTERM');
      // Phos exits within its shutdown budget; should it not, it must not outlive the run.
      const stuck = setTimeout(() => phos?.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(stuck);
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (baseURL) await sql(`drop database if exists ${database} with (force)`, serverUrl);
  });

  test('one registration the database refuses lands in the list, others go on, and a retry after the fix makes exactly one patient', async ({
    browser,
  }) => {
    test.setTimeout(120_000);
    const broken = { ...uniquePerson('Rhea'), lastName: `Brokenfield-${randomUUID().slice(0, 6)}` };
    const fine = uniquePerson('Finn');
    await sql(`alter table patients add constraint e2e_refuses check (last_name not like 'Brokenfield%') not valid`);

    const registrant = await playwrightRequest.newContext({ baseURL });
    const api = apiOver(registrant);
    await api.auth.register.mutate(broken);
    await api.auth.register.mutate(fine);
    await registrant.dispose();

    const count = async (lastName: string) =>
      Number(
        ((await sql(`select count(*) as n from patients where last_name = '${lastName}'`)).rows[0] as { n: string } | undefined)?.n ?? -1,
      );
    // The other registration is not held up by the broken one.
    await expect.poll(() => count(fine.lastName), { timeout: 30_000 }).toBe(1);

    const context = await browser.newContext({ baseURL });
    const page = await context.newPage();
    await signIn(page, admin);
    await page.goto('/admin/operations');
    await expect(page.getByRole('main').getByRole('status', { name: 'Live updates' })).toHaveText('Live');
    const failed = page.getByRole('table', { name: 'Failed registrations' });
    const row = failed.getByRole('row').filter({ hasText: `${broken.firstName} ${broken.lastName}` });
    await expect(row).toBeVisible({ timeout: 30_000 });
    await expect(row).toContainText('Self');
    await expect(row).toContainText('23514');
    await expect(row).toContainText('e2e_refuses');
    const queues = page.getByRole('table', { name: 'Job queues' });
    await expect(queues.getByRole('row').filter({ has: page.getByRole('cell', { name: 'registrations', exact: true }) })).toContainText(
      '1',
    );
    expect(await count(broken.lastName)).toBe(0);

    // The cause is fixed; the Admin retries from the page.
    await sql('alter table patients drop constraint e2e_refuses');
    await row.getByRole('button', { name: `Retry the registration of ${broken.firstName} ${broken.lastName}` }).click();
    await expect(page.getByText('Retried. The patient joins the queue once it succeeds.')).toBeVisible();
    await expect(page.getByText('No registration has failed.')).toBeVisible({ timeout: 30_000 });
    await expect.poll(() => count(broken.lastName), { timeout: 30_000 }).toBe(1);

    // The retry is in the audit trail, as this Admin's.
    const retried = await sql(`select role from audit_log where action = 'ops.retryRegistration' and outcome = 'allowed'`);
    expect(retried.rows).toEqual([{ role: 'Admin' }]);
    expect(await count(broken.lastName)).toBe(1);
    await context.close();
  });
});
