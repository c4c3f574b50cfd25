import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defineConfig, devices } from '@playwright/test';

// Playwright loads this file in the runner and again in each worker; workers inherit the runner's
// environment, so everything generated here is created once and shared through process.env.
const external = process.env.BASE_URL;
const port = process.env.E2E_PORT ?? '3290';
const baseURL = external ?? `http://127.0.0.1:${port}`;

// E2E_WEB_DIR runs the suite on a build of its own, which another build of apps/web cannot swap mid-run.
const webDir = process.env.E2E_WEB_DIR ?? path.resolve(import.meta.dirname, '../apps/web/dist');

if (!external) {
  if (!existsSync(path.join(webDir, 'index.html'))) {
    throw new Error(`No web build in ${webDir}: run \`npm run build -w @phos/web\` first (or \`npm run test:e2e\` from the root).`);
  }
  process.env.E2E_ADMIN_EMAIL ??= 'e2e-admin@phos.test';
  process.env.E2E_ADMIN_PASSWORD ??= 'e2e-admin-password-1';
  if (!process.env.E2E_DATA_DIR) {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'phos-e2e-'));
    process.env.E2E_DATA_DIR = dataDir;
    process.env.E2E_REDIS_PREFIX = `phos-e2e-${path.basename(dataDir)}`;
    // After the web server has been stopped, which happens after globalTeardown.
    process.on('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  }
}

export default defineConfig({
  testDir: './tests',
  forbidOnly: !!process.env.CI,
  retries: 0,
  workers: 1,
  reporter: 'list',
  // Specs sign in through the API (fixtures.ts), not the form; the two three-person specs ask for 120 s themselves.
  timeout: 60_000,
  expect: { timeout: 15_000 },
  use: {
    baseURL,
    headless: true,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
  projects: [{ name: 'chromium', use: { ...devices['Desktop Chrome'], viewport: { width: 1280, height: 800 } } }],
  webServer: external
    ? undefined
    : {
        command: 'npx tsx ../apps/server/src/main.ts',
        cwd: import.meta.dirname,
        url: `${baseURL}/readyz`,
        reuseExistingServer: false,
        timeout: 120_000,
        stdout: 'ignore',
        stderr: 'pipe',
        gracefulShutdown: { signal: 'SIGTERM', timeout: 10_000 },
        env: {
          NODE_ENV: 'test',
          PORT: port,
          HOST: '127.0.0.1',
          LOG_LEVEL: 'warn',
          PHOS_DATA_DIR: process.env.E2E_DATA_DIR ?? '',
          PHOS_WEB_DIR: webDir,
          PHOS_REDIS_PREFIX: process.env.E2E_REDIS_PREFIX ?? 'phos-e2e',
          PHOS_ADMIN_EMAIL: process.env.E2E_ADMIN_EMAIL ?? '',
          PHOS_ADMIN_PASSWORD: process.env.E2E_ADMIN_PASSWORD ?? '',
          // Every spec signs in and registers from 127.0.0.1: the per-address limits would trip.
          PHOS_REGISTER_MAX_PER_ADDRESS: '100000',
          PHOS_SIGNIN_MAX_FAILURES_PER_ADDRESS: '100000',
        },
      },
});
