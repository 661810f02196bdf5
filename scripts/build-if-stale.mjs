// `npm start`'s prestart: compiles (tsc -p tsconfig.build.json) only when a source is newer
// than the last build, so a start with nothing changed begins at once. Plain JavaScript,
// so that checking costs no compiler start-up.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const inputs = ['src', 'db', 'generated', 'bench', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];
const stamp = path.join(root, 'dist', '.built');

function newest(target) {
  const st = statSync(target, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let latest = st.mtimeMs;
  for (const entry of readdirSync(target)) latest = Math.max(latest, newest(path.join(target, entry)));
  return latest;
}

const builtAt = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
const changedAt = Math.max(...inputs.map((input) => newest(path.join(root, input))));
if (changedAt < builtAt) process.exit(0);

process.stderr.write('building (sources changed since the last build)...\n');
const started = new Date();
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
// Stamped with the time the build began: a file saved during the build is still newer.
closeSync(openSync(stamp, 'a'));
utimesSync(stamp, started, started);
