// `npm run audit:verify`: walks the audit trail's hash chain and names the first broken row.
// Connects as the server does: DATABASE_URL, or the embedded PGlite under PHOS_DATA_DIR.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { connectPglite, connectPostgres, type Database } from '../db/client.js';
import { loadEnv } from '../env.js';
import { verifyAuditChain } from './audit.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of a running Phos on this data directory: it owns the embedded Redis there. */
function runningPhosOn(dataDir: string): number | null {
  const ownerFile = path.join(dataDir, 'redis', 'owner.pid');
  if (!existsSync(ownerFile)) return null;
  const pid = Number(readFileSync(ownerFile, 'utf8'));
  return Number.isInteger(pid) && pid !== process.pid && isAlive(pid) ? pid : null;
}

function connect(): Database | string {
  const env = loadEnv();
  if (env.DATABASE_URL) return connectPostgres(env.DATABASE_URL, { max: 1 });
  const pgliteDir = path.join(env.PHOS_DATA_DIR, 'pglite');
  if (!existsSync(pgliteDir)) return `No Phos data in ${path.resolve(pgliteDir)}: set PHOS_DATA_DIR or DATABASE_URL.`;
  // PGlite allows one process per data directory; a second opening it could corrupt it.
  const owner = runningPhosOn(env.PHOS_DATA_DIR);
  if (owner !== null) {
    return `Phos is running on ${path.resolve(env.PHOS_DATA_DIR)} (pid ${owner}), and its embedded database allows one process at a time. Stop it, then run this again.`;
  }
  return connectPglite(pgliteDir);
}

async function main(): Promise<number> {
  const database = connect();
  if (typeof database === 'string') {
    console.error(database);
    return 2;
  }
  try {
    const result = await verifyAuditChain(database.db);
    if (result.ok) {
      console.log(`audit trail intact: ${result.rows} rows`);
      return 0;
    }
    console.error(`audit trail BROKEN at row ${result.firstBrokenId}: ${result.reason} (${result.rows} rows before it verified)`);
    return 1;
  } finally {
    await database.close();
  }
}

/** The driver's own words (`relation "audit_log" does not exist`), not the query drizzle wraps them in. */
function reasonOf(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  return cause instanceof Error ? cause.message : String(cause);
}

process.exitCode = await main().catch((error: unknown) => {
  console.error(`could not verify the audit trail: ${reasonOf(error)}`);
  return 2;
});
