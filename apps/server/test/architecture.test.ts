import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../src', import.meta.url));

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : full.endsWith('.ts') ? [full] : [];
  });
}

/** Relative imports of a file, resolved to files (`./x.js` is written for `./x.ts`). */
function localImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)].map((m) => m[1]!);
  return specifiers.map((specifier) => path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.ts')));
}

/** Every local file `entry` reaches through its imports, itself included. */
function reachable(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const pending = [...entries];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    pending.push(...localImports(file));
  }
  return seen;
}

function moduleOf(file: string): string {
  return path.relative(src, file).split(path.sep)[0]!;
}

/**
 * The transitive half of the module map in docs/decisions/011-module-seams.md. The boundaries
 * lint in eslint.config.js checks every direct import as you type; this checks what a module
 * reaches through the others, so no chain of allowed imports closes a forbidden path.
 */
describe('module boundaries', () => {
  it('identity reaches nothing of patients, queue, care plans, jobs or trpc, even indirectly', () => {
    const identity = filesUnder(path.join(src, 'identity'));
    expect(identity.length).toBeGreaterThan(0);
    const reached = [...reachable(identity)].map(moduleOf);
    expect(
      reached.filter((module) => ['patients', 'queue', 'care-plans', 'notifications', 'jobs', 'trpc', 'http'].includes(module)),
    ).toEqual([]);
  });

  it.each([
    ['patients', ['identity', 'queue', 'care-plans', 'notifications', 'jobs', 'trpc', 'http']],
    ['queue', ['identity', 'patients', 'care-plans', 'notifications', 'outbox', 'jobs', 'trpc', 'http']],
    ['care-plans', ['identity', 'patients', 'queue', 'notifications', 'outbox', 'jobs', 'trpc', 'http']],
    ['notifications', ['identity', 'patients', 'queue', 'care-plans', 'outbox', 'jobs', 'trpc', 'http']],
    ['events', ['identity', 'patients', 'queue', 'care-plans', 'notifications', 'outbox', 'jobs', 'trpc', 'http']],
    ['outbox', ['identity', 'patients', 'queue', 'care-plans', 'notifications', 'events', 'jobs', 'trpc', 'http']],
  ])('%s stays within what the module map lets it reach', (module, forbidden) => {
    const files = filesUnder(path.join(src, module));
    expect(files.length).toBeGreaterThan(0);
    const reached = [...reachable(files)].map(moduleOf);
    expect(reached.filter((name) => forbidden.includes(name))).toEqual([]);
  });

  it('sees an import the check should catch', () => {
    // Guards the checker itself: the worker module does reach patients and queue.
    const reached = [...reachable(filesUnder(path.join(src, 'jobs')))].map(moduleOf);
    expect(reached).toEqual(expect.arrayContaining(['patients', 'queue', 'events', 'outbox']));
  });
});
