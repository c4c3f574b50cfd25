// `npm run audit:verify`: walks the audit trail's hash chain and names the first broken row.
// Connects as the server does: DATABASE_URL, or the embedded PGlite under PHOS_DATA_DIR.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { connectPglite, connectPostgres, type Database } from '../db/client.js';
import { loadEnv } from '../env.js';
import { liveOwnerOf } from '../redis/embedded.js';
import { verifyAuditChain } from './audit.js';

function connect(): Database | string {
  const env = loadEnv();
  if (env.DATABASE_URL) return connectPostgres(env.DATABASE_URL, { max: 1 });
  const pgliteDir = path.join(env.PHOS_DATA_DIR, 'pglite');
  if (!existsSync(pgliteDir)) return `No Phos data in ${path.resolve(pgliteDir)}: set PHOS_DATA_DIR or DATABASE_URL.`;
  // PGlite allows one process per data directory; a second opening it could corrupt it.
  // A running Phos owns the embedded Redis beside its database.
  const owner = liveOwnerOf(path.join(env.PHOS_DATA_DIR, 'redis'));
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
