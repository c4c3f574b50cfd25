import { spawn } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const serverDir = fileURLToPath(new URL('../..', import.meta.url));

/** Every file and directory under `dir`, with its permission bits. */
function modesUnder(root: string, dir = root): { path: string; mode: number }[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    const stat = lstatSync(full);
    const entry = { path: path.relative(root, full), mode: stat.mode & 0o777 };
    return stat.isDirectory() ? [entry, ...modesUnder(root, full)] : [entry];
  });
}

/** Runs `npm start`'s server process on the embedded defaults until it is serving, then stops it. */
async function runPhosUntilServing(dataDir: string): Promise<void> {
  const { DATABASE_URL: _database, REDIS_URL: _redis, PHOS_ADMIN_EMAIL: _email, PHOS_ADMIN_PASSWORD: _password, ...env } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: serverDir,
    env: { ...env, PHOS_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', PHOS_WEB_DIR: path.join(dataDir, 'no-web'), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Phos is running')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`Phos exited (${code}) before serving:\n${output}`)));
  });
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
}

describe('the embedded data directory (ASVS V8.1.2, HIPAA 164.312(a)(1))', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'phos-data-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('is created 0700 with nothing in it readable by group or others, and an old open one is tightened', { timeout: 180_000 }, async () => {
    // A data directory an older Phos left world-readable.
    const dataDir = path.join(root, 'data');
    mkdirSync(path.join(dataDir, 'redis'), { recursive: true });
    chmodSync(dataDir, 0o755);
    chmodSync(path.join(dataDir, 'redis'), 0o755);

    await runPhosUntilServing(dataDir);

    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    const entries = modesUnder(dataDir);
    // PGlite's cluster and Redis's append-only files are there, so the walk saw real data.
    expect(entries.map((entry) => entry.path)).toEqual(expect.arrayContaining([path.join('pglite', 'PG_VERSION'), path.join('redis', 'appendonlydir')]));
    expect(entries.filter((entry) => (entry.mode & 0o077) !== 0)).toEqual([]);
  });
});
