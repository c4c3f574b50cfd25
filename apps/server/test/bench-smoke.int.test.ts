import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { usesPostgres } from './support.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../..', import.meta.url));
/** The bench starts Phos as its own process, so it needs servers it can reach by URL. */
const redisTarget = inject('redisTarget');
const redisUrl = 'url' in redisTarget ? redisTarget.url : undefined;

interface Latencies {
  n: number;
  p99: number | null;
}

interface LiveResult {
  events: number;
  moves: { ok: number; failed: number };
  mutation_ms: Latencies;
  dashboard_delivery_ms: Latencies;
  patient_stage_delivery_ms: Latencies;
  tracked: { dashboards: number; dashboards_exact: number; missed: number; duplicated: number; unexpected: number; out_of_order: number };
  patients: { streams: number; stage_changes: number; stage_changes_missed: number };
  sql: { counter: string; per_event: number | null };
  phos: { cpu_ms_per_event_per_dashboard: number | null; rss_peak_mib: number };
  goals: { name: string; goal: string }[];
}

// Keeps bench/live.mjs from rotting: a tiny run end to end, no timing asserted.
describe('bench/live.mjs', () => {
  it.runIf(usesPostgres && redisUrl !== undefined)(
    'runs a tiny live fan-out scenario and accounts for every tracked event',
    async () => {
      const outDir = mkdtempSync(path.join(tmpdir(), 'phos-bench-smoke-'));
      let result: LiveResult;
      try {
        const out = path.join(outDir, 'live.json');
        const args = ['bench/live.mjs', '--patients', '5', '--dashboards', '3', '--rate', '2', '--seconds', '3', '--out', out];
        await run(process.execPath, args, {
          cwd: root,
          env: { ...process.env, PG_URL: process.env.DATABASE_URL, REDIS_URL: redisUrl },
          timeout: 170_000,
        });
        result = JSON.parse(readFileSync(out, 'utf8')) as LiveResult;
      } finally {
        rmSync(outDir, { recursive: true, force: true });
      }
      expect(result.moves).toMatchObject({ ok: 6, failed: 0 });
      expect(result.events).toBe(6);
      expect(result.tracked).toMatchObject({
        dashboards: 3,
        dashboards_exact: 3,
        missed: 0,
        duplicated: 0,
        unexpected: 0,
        out_of_order: 0,
      });
      expect(result.patients.streams).toBe(5);
      expect(result.patients.stage_changes_missed).toBe(0);
      expect(result.dashboard_delivery_ms.n).toBe(18);
      expect(result.mutation_ms.n).toBe(6);
      expect(result.sql.per_event).toBeGreaterThan(0);
      expect(result.phos.rss_peak_mib).toBeGreaterThan(0);
      expect(result.goals.map((goal) => goal.name)).toHaveLength(7);
    },
    180_000,
  );
});
