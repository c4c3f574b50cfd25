import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startPhosApi } from '../processes.js';

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
  const phos = await startPhosApi(
    {
      DATABASE_URL: undefined,
      REDIS_URL: undefined,
      PHOS_ADMIN_EMAIL: undefined,
      PHOS_ADMIN_PASSWORD: undefined,
      PHOS_DATA_DIR: dataDir,
      PHOS_WEB_DIR: path.join(dataDir, 'no-web'),
      // A first start migrates a new embedded database: minutes, not seconds, on a loaded 2-core host.
    },
    { startTimeoutMs: 150_000 },
  );
  phos.signal('SIGTERM');
  expect((await phos.exited).code).toBe(0);
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
    expect(entries.map((entry) => entry.path)).toEqual(
      expect.arrayContaining([path.join('pglite', 'PG_VERSION'), path.join('redis', 'appendonlydir')]),
    );
    expect(entries.filter((entry) => (entry.mode & 0o077) !== 0)).toEqual([]);
  });
});
