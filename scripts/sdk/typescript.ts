/**
 * `npm run sdk:typescript`: builds sdk/typescript (tsc: ESM and declarations), packs it with
 * `npm pack`, installs the tarball into a scratch project in a temp folder (openapi-fetch
 * from the registry), starts the real server (`npm start`, embedded PostgreSQL, free port)
 * and runs the consumers' flow against it from plain Node (flow.mjs) and from strict
 * TypeScript (flow.ts, which must pass tsc --strict). Exit status 1 on any failure.
 *
 *   tsx scripts/sdk/typescript.ts    (KEEP_SCRATCH=1 keeps the scratch folder)
 */
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/ports.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sdk = path.join(root, 'sdk/typescript');
const consumer = path.join(root, 'scripts/sdk/typescript-consumer');
const tsc = path.join(root, 'node_modules/.bin/tsc');
const say = (line = '') => process.stdout.write(`${line}\n`);

function fail(message: string): never {
  process.stderr.write(`\nsdk:typescript: ${message}\n`);
  process.exit(1);
}

function run(command: string, args: string[], options: SpawnSyncOptions = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 300_000, ...options });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.error) fail(`could not run ${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`${command} ${args.join(' ')} failed:\n${output}`);
  return output;
}

// 1. Build. The sources import the contract's types from generated/, outside the package:
// the build compiles a copy of them with generated/openapi.ts beside them instead.
const stage = path.join(root, 'node_modules/.cache/microblog-sdk-build'); // resolves openapi-fetch from the root
rmSync(stage, { recursive: true, force: true });
rmSync(path.join(sdk, 'dist'), { recursive: true, force: true });
cpSync(path.join(sdk, 'src'), stage, { recursive: true });
cpSync(path.join(root, 'generated/openapi.ts'), path.join(stage, 'openapi.ts'));
const schemaFile = path.join(stage, 'schema.ts');
const schema = readFileSync(schemaFile, 'utf8');
const fromGenerated = "'../../../generated/openapi.js'";
if (!schema.includes(fromGenerated))
  fail(`sdk/typescript/src/schema.ts no longer imports ${fromGenerated}`);
writeFileSync(schemaFile, schema.replaceAll(fromGenerated, "'./openapi.js'"));
writeFileSync(
  path.join(stage, 'tsconfig.json'),
  JSON.stringify({
    extends: path.join(sdk, 'tsconfig.build.json'),
    compilerOptions: { rootDir: stage, outDir: path.join(sdk, 'dist') },
    include: [path.join(stage, '*.ts')],
  }),
);
run(tsc, ['-p', path.join(stage, 'tsconfig.json')]);
const built = readdirSync(path.join(sdk, 'dist')).sort();
say(`sdk:typescript: built sdk/typescript/dist: ${built.join(' ')}`);

// 2. Pack, and install the tarball where nothing of this repository is in reach.
const scratch = mkdtempSync(path.join(os.tmpdir(), 'microblog-sdk-ts-'));
chmodSync(scratch, 0o755); // the server's data folder below must be reachable by the postgres user when running as root
const tarball = run('npm', ['pack', '--silent', '--pack-destination', scratch], { cwd: sdk })
  .trim()
  .split('\n')
  .pop();
if (!tarball) fail('npm pack named no tarball');
say(`sdk:typescript: packed ${tarball}`);
const project = path.join(scratch, 'consumer');
mkdirSync(project);
writeFileSync(
  path.join(project, 'package.json'),
  JSON.stringify({ name: 'microblog-sdk-consumer', private: true, type: 'module' }, null, 2),
);
run('npm', ['install', '--no-audit', '--no-fund', path.join(scratch, tarball)], { cwd: project });
const installed = JSON.parse(run('npm', ['ls', '--json', '--all'], { cwd: project })) as {
  dependencies: Record<
    string,
    { version: string; dependencies?: Record<string, { version: string }> }
  >;
};
const sdkInstalled = installed.dependencies['@microblog/sdk'];
say(
  `sdk:typescript: installed @microblog/sdk@${sdkInstalled?.version} with openapi-fetch@${sdkInstalled?.dependencies?.['openapi-fetch']?.version} in ${project}`,
);
for (const file of ['flow.ts', 'flow.mjs', 'run.mjs', 'tsconfig.json'])
  cpSync(path.join(consumer, file), path.join(project, file));
run(tsc, ['-p', path.join(project, 'tsconfig.json')]);
say(
  'sdk:typescript: the TypeScript consumer compiles with tsc --strict (and exactOptionalPropertyTypes)',
);

// 3. The real server, as `npm start` runs it, in its own process group.
const port = await freePort();
const data = path.join(scratch, 'server');
mkdirSync(data, { mode: 0o755 }); // reachable by the postgres user when running as root
// Its log in a file, which the flow reads its mails from (no SMTP_URL: mails are logged).
const logFile = path.join(scratch, 'server.log');
const logFd = openSync(logFile, 'w');
const serverEnv: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), EMBEDDED_PG_DATA_DIR: path.join(data, 'pg'), LOG_LEVEL: 'info' };
delete serverEnv.SMTP_URL;
const server = spawn('npm', ['start'], {
  cwd: root,
  detached: true,
  stdio: ['ignore', logFd, logFd],
  env: serverEnv,
});
closeSync(logFd);
const readLog = () => readFileSync(logFile, 'utf8');
const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
let running = true;
void exited.then(() => (running = false));

async function stopServer(): Promise<void> {
  if (running && server.pid !== undefined) process.kill(-server.pid, 'SIGINT');
  await exited;
}

const baseUrl = `http://127.0.0.1:${port}`;
let failures = 0;
let serverLogAtEnd: string;
try {
  for (let tries = 0; ; tries++) {
    if (!running) fail(`the server exited:\n${readLog()}`);
    if (tries > 240) fail(`the server did not answer on ${baseUrl}:\n${readLog()}`);
    const ok = await fetch(`${baseUrl}/api`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  say(`sdk:typescript: server up at ${baseUrl}`);

  // 4. The flow, from each consumer.
  const consumers = [
    ['plain Node (JavaScript)', 'flow.mjs'],
    ['strict TypeScript (compiled by tsc)', 'out/flow.js'],
  ] as const;
  for (const [name, module] of consumers) {
    say(`sdk:typescript: ${name}: ${module}`);
    const result = spawnSync('node', ['run.mjs', module, baseUrl, logFile], {
      cwd: project,
      encoding: 'utf8',
      timeout: 120_000,
    });
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    if (result.status !== 0) failures += 1;
  }
} finally {
  await stopServer();
  serverLogAtEnd = readLog();
  if (process.env.KEEP_SCRATCH) say(`sdk:typescript: kept ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
}
if (failures > 0) {
  process.stderr.write(serverLogAtEnd.slice(-4000));
  fail(`${failures} of 2 consumers failed`);
}
say(
  `sdk:typescript: ${tarball}: the flow passed from plain Node and from strict TypeScript, 0 failures`,
);
