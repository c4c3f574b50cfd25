// `npm run bench [-- --quick | live flags]`: the live fan-out scenario, in one Phos process and then
// split (two apis, two workers), the registration pipeline, then the dashboard. Flags go to
// bench/live.mjs; --quick also shrinks the other two.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');

function run(script, scriptArgs) {
  const { status, signal } = spawnSync(process.execPath, [path.join(here, script), ...scriptArgs], { stdio: 'inherit' });
  return status ?? (signal ? 1 : 0);
}

const live = run(
  'live.mjs',
  args.filter((arg) => arg !== '--split'),
);
// The same scenario scaled out; an --out file gets a -split twin.
const splitArgs = [...args.filter((arg) => arg !== '--split'), '--split'].map((arg, i, all) =>
  all[i - 1] === '--out' ? arg.replace(/(\.json)?$/, '-split$1') : arg,
);
const liveSplit = run('live.mjs', splitArgs);
const registration = run('registration.mjs', quick ? ['50', '8', '8', '10'] : []);
const dashboard = run('dashboard.mjs', quick ? ['--quick'] : []);
process.exit([live, liveSplit, registration, dashboard].find((code) => code !== 0) ?? 0);
