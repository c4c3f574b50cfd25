import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

/**
 * Files this process creates (and the redis-server it starts) are its user's alone: the embedded
 * data directory holds health data and password hashes in PGlite's files, WAL and Redis's AOF.
 * The umask is process-wide, so only entry points (main, seed) call this.
 */
export function keepNewFilesPrivate(): void {
  process.umask(0o077);
}

/** Creates `dir` (and any missing parents) as 0700, and tightens one an older Phos left open. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Takes group and other permissions off everything under `dir` (symbolic links left alone). */
export function makeTreePrivate(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    const mode = lstatSync(full).mode & 0o777;
    if ((mode & 0o077) !== 0) chmodSync(full, mode & 0o700);
    if (entry.isDirectory()) makeTreePrivate(full);
  }
  chmodSync(dir, 0o700);
}
