// `npm start`: installs what is missing, builds the web app when its sources changed, and runs
// Phos on the embedded defaults (or DATABASE_URL / REDIS_URL when set). Plain Node, no deps.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(args) {
  const result = spawnSync(npm, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs);
  }
  return latest;
}

const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  console.log('Installing dependencies (npm ci)…');
  run(['ci', '--no-audit', '--no-fund']);
}

const webIndex = path.join(root, 'apps', 'web', 'dist', 'index.html');
const webSources = Math.max(newest(path.join(root, 'apps', 'web', 'src')), newest(path.join(root, 'packages', 'shared', 'src')));
if (!existsSync(webIndex) || statSync(webIndex).mtimeMs < webSources) {
  console.log('Building the web app…');
  run(['run', 'build', '--workspace', '@phos/web']);
}

// From the repository root, so PHOS_DATA_DIR's default `.data` lands here.
const server = spawnSync(process.execPath, ['--import', 'tsx', 'apps/server/src/main.ts'], { cwd: root, stdio: 'inherit' });
process.exit(server.status ?? 0);
