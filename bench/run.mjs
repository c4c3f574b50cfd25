// `npm run bench [-- --quick | live flags]`: the live fan-out scenario, then the registration
// pipeline. Flags go to bench/live.mjs; --quick also shrinks the registration run.
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

const live = run('live.mjs', args);
const registration = run('registration.mjs', quick ? ['50', '8', '8', '10'] : []);
process.exit(live !== 0 ? live : registration);
