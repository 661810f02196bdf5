/**
 * `npm run sdk:swift`: regenerates sdk/swift, a Swift Package Manager package, with
 * OpenAPI Generator's swift6 generator (pinned below; URLSession, async/await) and checks
 * what can be checked without a Swift toolchain: every .swift file parses (tree-sitter's
 * Swift grammar), Package.swift declares the library and the test target and no
 * dependency, no request sends a placeholder for an omitted optional value, no URL has a
 * `//api`, and the XCTest flow calls every operation of the contract. Exit status 1 with
 * each problem listed. See docs/sdks.md.
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { operationsOf, readContractDocument } from '../../test/support/contract.js';

const GENERATOR = {
  group: 'org.openapitools',
  artifact: 'openapi-generator-cli',
  version: '7.25.0',
};
const PROJECT = 'Microblog';
/** Files of sdk/swift written by hand: regeneration keeps them. */
const HANDWRITTEN = [
  `Sources/${PROJECT}/Handwritten/Credentials.swift`,
  `Tests/${PROJECT}Tests/${PROJECT}FlowTests.swift`,
];

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sdk = path.join(root, 'sdk/swift');
const out = path.join(root, 'sdk-out/swift');
const cache = path.join(root, 'node_modules/.cache');
const say = (line = '') => process.stdout.write(`${line}\n`);

function fail(message: string): never {
  process.stderr.write(`\nsdk:swift: ${message}\n`);
  process.exit(1);
}

function run(command: string, args: string[], cwd = root): string {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    timeout: 600_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.error) fail(`could not run ${command}: ${result.error.message}`);
  if (result.status !== 0)
    fail(`${command} ${args.join(' ')} exited with ${result.status}:\n${output}`);
  return output;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) =>
      path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'),
    )
    .sort();
}

// 1. The generator's jar, from Maven Central through Maven, once.
const jarDir = path.join(cache, 'openapi-generator');
const jar = path.join(jarDir, `${GENERATOR.artifact}-${GENERATOR.version}.jar`);
if (!existsSync(jar)) {
  mkdirSync(jarDir, { recursive: true });
  say(`sdk:swift: fetching ${GENERATOR.artifact} ${GENERATOR.version} with Maven`);
  run(
    'mvn',
    [
      '-q',
      '-B',
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy',
      `-Dartifact=${GENERATOR.group}:${GENERATOR.artifact}:${GENERATOR.version}`,
      `-DoutputDirectory=${jarDir}`,
    ],
    jarDir,
  );
}

// 2. The 3.1 contract as it is, as JSON: the generator's YAML reader (SnakeYAML, YAML 1.1)
// fails on flow sequences such as `examples: [/api/users?page=2&per_page=10]`.
const contract = readContractDocument();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const input = path.join(out, 'openapi.json');
writeFileSync(input, `${JSON.stringify(contract, null, 2)}\n`);

// 3. Generate into a scratch folder, then replace the generated part of sdk/swift.
const generated = path.join(out, 'generated');
const log = run('java', [
  '-jar',
  jar,
  'generate',
  '-g',
  'swift6',
  '-i',
  input,
  '-o',
  generated,
  '-t',
  path.join(root, 'scripts/sdk/swift/templates'),
  '--additional-properties',
  `projectName=${PROJECT},library=urlsession,responseAs=AsyncAwait,hideGenerationTimestamp=true`,
]);
writeFileSync(path.join(out, 'generator.log'), log);
const errors = log.split('\n').filter((line) => /\bERROR\b/.test(line));
if (errors.length > 0)
  fail(`the generator logged errors (sdk-out/swift/generator.log):\n${errors.join('\n')}`);
const warnings = [
  ...new Set(
    log
      .split('\n')
      .filter((line) => /\bWARN\b/.test(line))
      .map((line) => line.replace(/^.*?WARN\s+\S+\s+-\s+/, '')),
  ),
];
say(
  `sdk:swift: openapi-generator ${GENERATOR.version} -g swift6 (urlsession, AsyncAwait) read the 3.1 contract`,
);
for (const warning of warnings) say(`sdk:swift:   generator warning: ${warning}`);

for (const file of filesUnder(sdk)) if (!HANDWRITTEN.includes(file)) rmSync(path.join(sdk, file));
// A script to push the folder to a GitHub repository of its own: not how this one is shipped.
const NOT_SHIPPED = ['git_push.sh'];
for (const file of filesUnder(generated)) {
  if (NOT_SHIPPED.includes(file)) continue;
  if (HANDWRITTEN.includes(file)) fail(`the generator wrote ${file}, which is written by hand`);
  mkdirSync(path.dirname(path.join(sdk, file)), { recursive: true });
  cpSync(path.join(generated, file), path.join(sdk, file));
}
for (const file of HANDWRITTEN)
  if (!existsSync(path.join(sdk, file))) fail(`sdk/swift/${file} is missing`);
const files = filesUnder(sdk);
const read = (file: string) => readFileSync(path.join(sdk, file), 'utf8');
const swiftFiles = files.filter((file) => file.endsWith('.swift'));
say(
  `sdk:swift: sdk/swift: ${files.length} files, ${swiftFiles.length} Swift (${HANDWRITTEN.length} of them by hand)`,
);

const problems: string[] = [];

// 4. Every Swift file parses.
interface SyntaxNode {
  type: string;
  hasError: boolean;
  isMissing: boolean;
  startPosition: { row: number; column: number };
  children: SyntaxNode[];
}
interface Parser {
  setLanguage(language: unknown): void;
  parse(source: string): { rootNode: SyntaxNode };
}
const parserDir = path.join(cache, 'microblog-swift-parser');
const parserLock = path.join(root, 'scripts/sdk/swift-parser/package-lock.json');
if (
  !existsSync(path.join(parserDir, 'node_modules/tree-sitter-swift')) ||
  readFileSync(path.join(parserDir, 'package-lock.json'), 'utf8') !==
    readFileSync(parserLock, 'utf8')
) {
  rmSync(parserDir, { recursive: true, force: true });
  mkdirSync(parserDir, { recursive: true });
  for (const file of ['package.json', 'package-lock.json'])
    cpSync(path.join(root, 'scripts/sdk/swift-parser', file), path.join(parserDir, file));
  // Their prebuilt binaries need no install script; tree-sitter-cli's would download from GitHub.
  run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], parserDir);
}
const requireParser = createRequire(path.join(parserDir, 'package.json'));
const TreeSitter = requireParser('tree-sitter') as new () => Parser;
const parser = new TreeSitter();
parser.setLanguage(requireParser('tree-sitter-swift'));

function firstError(node: SyntaxNode): SyntaxNode | undefined {
  if (node.type === 'ERROR' || node.isMissing) return node;
  if (!node.hasError) return undefined;
  for (const child of node.children) {
    const found = firstError(child);
    if (found) return found;
  }
  return node;
}
/**
 * Valid Swift that tree-sitter-swift 0.7.1 (the newest on npm) cannot parse, blanked out
 * before parsing, each counted and printed. The replacements keep the length of what they
 * replace, so that positions in the messages are those of the file.
 */
const GRAMMAR_GAPS: { what: string; pattern: RegExp; replace: (match: string) => string }[] = [
  {
    what: 'typed throws, throws(E) (Swift 6): parsed as plain throws',
    pattern: /\bthrows\((?:[^()]|\([^()]*\))*\)/g,
    replace: (match) => `throws${' '.repeat(match.length - 6)}`,
  },
  {
    what: '#if/#else/#endif lines (the grammar rejects them among the members of a type): blanked, each branch parsed',
    pattern: /^[ \t]*#(?:if|elseif|else|endif)\b.*$/gm,
    replace: (match) => ' '.repeat(match.length),
  },
  {
    what: 'the empty tuple () as a value (`() as! T`, `init(nilLiteral: ())`): parsed as a name',
    pattern: /(?<=[=:(,] ?)\(\)(?=\s*(?:as!|[,)]))/g,
    replace: () => '_v',
  },
];
const gapsSeen = new Map<string, number>();
for (const file of swiftFiles) {
  let source = read(file);
  for (const gap of GRAMMAR_GAPS) {
    source = source.replace(gap.pattern, (match) => {
      gapsSeen.set(gap.what, (gapsSeen.get(gap.what) ?? 0) + 1);
      return gap.replace(match);
    });
  }
  // The string form of parse() is limited to 32 KiB: a callback reads longer files.
  const tree = (
    parser.parse as unknown as (input: (index: number) => string | null) => { rootNode: SyntaxNode }
  )((index) => (index < source.length ? source.slice(index, index + 8192) : null));
  const error = firstError(tree.rootNode);
  if (error)
    problems.push(
      `${file}:${error.startPosition.row + 1}:${error.startPosition.column + 1}: does not parse (${error.isMissing ? `missing ${error.type}` : error.type})`,
    );
}
for (const [what, count] of gapsSeen)
  say(`sdk:swift:   blanked for the grammar: ${count} × ${what}`);
say(`sdk:swift: tree-sitter-swift 0.7.1 parsed ${swiftFiles.length} Swift files`);

// 5. The manifest: the library, the test target, no dependency (no Alamofire).
const manifest = read('Package.swift');
const manifestChecks: [boolean, string][] = [
  [manifest.startsWith('// swift-tools-version:6.0'), 'starts with // swift-tools-version:6.0'],
  [
    new RegExp(`\\.library\\(\\s*name: "${PROJECT}",\\s*targets: \\["${PROJECT}"\\]`).test(
      manifest,
    ),
    `declares the library ${PROJECT}`,
  ],
  [
    new RegExp(
      `\\.target\\(\\s*name: "${PROJECT}",\\s*dependencies: \\[\\],\\s*path: "Sources/${PROJECT}"`,
    ).test(manifest),
    `declares the target ${PROJECT} at Sources/${PROJECT}`,
  ],
  [
    new RegExp(
      `\\.testTarget\\(\\s*name: "${PROJECT}Tests",\\s*dependencies: \\["${PROJECT}"\\],\\s*path: "Tests/${PROJECT}Tests"`,
    ).test(manifest),
    `declares the test target ${PROJECT}Tests`,
  ],
  [
    /dependencies: \[\],\n/.test(manifest) && !manifest.includes('.package('),
    'depends on no package',
  ],
];
for (const [ok, what] of manifestChecks)
  if (!ok) problems.push(`Package.swift: expected it ${what}`);
const alamofire = swiftFiles.filter((file) => /^import Alamofire/m.test(read(file)));
if (alamofire.length > 0) problems.push(`Alamofire imported by ${alamofire.join(', ')}`);
say(
  `sdk:swift: Package.swift: ${manifestChecks.filter(([ok]) => ok).length} of ${manifestChecks.length} manifest checks hold`,
);

// 6. Operations: one async method per operationId, each called by the XCTest flow.
const apis = swiftFiles
  .filter((file) => file.startsWith(`Sources/${PROJECT}/APIs/`))
  .map(read)
  .join('\n');
const flow = read(HANDWRITTEN[1] as string);
const operations = operationsOf(contract).flatMap(({ operation }) =>
  typeof operation.operationId === 'string' ? [operation.operationId] : [],
);
for (const id of operations) {
  if (!new RegExp(`open class func ${id}\\([^)]*\\) async throws\\(ErrorResponse\\)`).test(apis))
    problems.push(`no async method ${id}(…) async throws(ErrorResponse) in the generated APIs`);
  if (!new RegExp(`\\.${id}(WithRequestBuilder)?\\(`).test(flow))
    problems.push(
      `the XCTest flow calls no ${id}: every operation of the contract must be in the flow`,
    );
}
// The flow names the API classes the generator makes (a renamed tag renames its class).
for (const [, name] of flow.matchAll(/\b(\w+API)\.\w+\(/g)) {
  if (!new RegExp(`open class ${name}\\b`).test(apis)) problems.push(`the XCTest flow calls ${name}, which the generator no longer makes`);
}
say(`sdk:swift: ${operations.length} operations, each an async method called by ${HANDWRITTEN[1]}`);

// 7. Nothing sent for an omitted optional value.
const helper = read(`Sources/${PROJECT}/Infrastructure/APIHelper.swift`);
const nilChecks: [boolean, string][] = [
  [
    /func rejectNilHeaders[\s\S]*?else if let value: Any = item\.value \{/.test(helper),
    'APIHelper.rejectNilHeaders drops nil headers',
  ],
  [
    /func mapValuesToQueryItems\(_ source: \[String: \(wrappedValue: \(any Sendable\)\?, isExplode: Bool\)\]\)[^\n]*\n\s*let destination = source\.filter \{ \$0\.value\.wrappedValue != nil \}/.test(
      helper,
    ),
    'APIHelper.mapValuesToQueryItems drops nil query values',
  ],
];
const headerMaps =
  apis.match(/let localVariableNillableHeaders: \[String: \(any Sendable\)\?\] = \[/g)?.length ?? 0;
const headersFiltered =
  apis.match(
    /let localVariableHeaderParameters = APIHelper\.rejectNilHeaders\(localVariableNillableHeaders\)/g,
  )?.length ?? 0;
nilChecks.push([
  headerMaps === operations.length && headersFiltered === headerMaps,
  `every operation's headers go through rejectNilHeaders (${headersFiltered}/${headerMaps}/${operations.length})`,
]);
const queryAssignments = apis.match(/queryItems = [^\n]*/g) ?? [];
nilChecks.push([
  queryAssignments.every((line) =>
    line.startsWith('queryItems = APIHelper.mapValuesToQueryItems(['),
  ),
  `every query goes through mapValuesToQueryItems (${queryAssignments.length})`,
]);
const literals = swiftFiles.filter(
  (file) => file.startsWith('Sources/') && /"(null|nil|NULL|None)"/.test(read(file)),
);
nilChecks.push([
  literals.length === 0,
  `no "null"/"nil" string literal in the sources${literals.length ? `: ${literals.join(', ')}` : ''}`,
]);
// The request bodies: each optional member is left out, not sent as null, when nil.
const bodies = new Set(
  operationsOf(contract).flatMap(({ operation }) => {
    const ref = JSON.stringify(operation.requestBody ?? '').match(/#\/components\/schemas\/(\w+)/);
    return ref?.[1] ? [ref[1]] : [];
  }),
);
let optionalMembers = 0;
for (const name of bodies) {
  const model = read(`Sources/${PROJECT}/Models/${name}.swift`);
  for (const [, member] of model.matchAll(/public var (\w+): [^=\n]+\?\n/g)) {
    optionalMembers += 1;
    if (
      !new RegExp(`try container\\.encodeIfPresent\\(${member}, forKey: \\.${member}\\)`).test(
        model,
      )
    )
      problems.push(`${name}.${member} is optional but encoded even when nil`);
  }
}
nilChecks.push([
  optionalMembers > 0,
  `${optionalMembers} optional members of ${[...bodies].join(', ')} encoded only when present`,
]);
for (const [ok, what] of nilChecks) if (!ok) problems.push(`placeholders: expected ${what}`);
say(
  `sdk:swift: no placeholder for an omitted value: ${nilChecks.filter(([ok]) => ok).length} of ${nilChecks.length} checks hold (${headerMaps} header maps, ${queryAssignments.length} queries, ${optionalMembers} optional body members)`,
);

// 8. URLs: basePath + a path that starts with one slash, and a basePath without a trailing one.
const apisSwift = read(`Sources/${PROJECT}/Infrastructure/APIs.swift`);
const basePath = apisSwift.match(/basePath: String = "([^"]*)"/)?.[1];
const paths = [...apis.matchAll(/localVariablePath = "([^"]*)"/g)].map((m) => m[1] as string);
const joins =
  apis.match(/let localVariableURLString = apiConfiguration\.basePath \+ localVariablePath/g)
    ?.length ?? 0;
if (basePath === undefined || basePath.endsWith('/'))
  problems.push(`the default basePath ${basePath} must not end with /`);
for (const p of new Set(paths))
  if (!p.startsWith('/') || p.includes('//')) problems.push(`the path ${p} must start with one /`);
if (joins !== operations.length)
  problems.push(`expected each URL built as basePath + path (${joins}/${operations.length})`);
const sample = `${basePath}${paths[0]}`;
if (/[^:]\/\/api/.test(sample)) problems.push(`a URL with //api: ${sample}`);
say(
  `sdk:swift: URLs are basePath + path: default basePath "${basePath}", e.g. ${sample}, no //api`,
);

if (problems.length > 0) fail(`${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
say(
  `sdk:swift: sdk/swift passes its checks: ${swiftFiles.length} Swift files parse, the manifest declares the library, no placeholders, no //api, ${operations.length} operations in the XCTest flow (not compiled: no Swift toolchain here)`,
);
