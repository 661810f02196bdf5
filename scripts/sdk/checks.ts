import type { Node } from './contract30.js';

/** Where swagger-codegen 3 puts things for one language, and what it names them. */
export interface Target {
  language: 'swift' | 'kotlin';
  generator: string;
  modelsDir: string;
  apisDir: string;
  modelFile(schemaName: string): string;
  apiFile(tag: string): string;
  /** How an operation's method starts in the API file. */
  operation(operationId: string): string;
  /** JSON member name → is the generated type optional, for one model file. */
  members(source: string): Map<string, boolean>;
}

/** The models any client needs; the contract losing one of them is a mistake. */
export const CORE_MODELS = [
  'User',
  'UserCollection',
  'Post',
  'PostCollection',
  'Token',
  'Error',
  'ValidationError',
];

const pascal = (tag: string) =>
  tag
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');

export const swift: Target = {
  language: 'swift',
  generator: 'swift5',
  modelsDir: 'Microblog/Classes/Swaggers/Models',
  apisDir: 'Microblog/Classes/Swaggers/APIs',
  // Swift's own Error type takes the name; openapi-generator renames it the same way.
  modelFile: (name) => `${name === 'Error' ? 'ModelError' : name}.swift`,
  apiFile: (tag) => `${pascal(tag)}API.swift`,
  operation: (operationId) => `open class func ${operationId}(`,
  members(source) {
    const codingKeys = /enum CodingKeys: String, CodingKey \{([^}]*)\}/.exec(source)?.[1];
    const jsonName = new Map<string, string>();
    for (const [, name = '', json] of codingKeys?.matchAll(/case (\w+)(?: = "([^"]+)")?/g) ?? [])
      jsonName.set(name, json ?? name);
    const members = new Map<string, boolean>();
    for (const [, name = '', type = ''] of source.matchAll(
      /^ {4}public var (\w+): ([^=\n]+?)(?: = .*)?$/gm,
    )) {
      members.set(
        codingKeys ? (jsonName.get(name) ?? `(no coding key) ${name}`) : name,
        type.endsWith('?'),
      );
    }
    return members;
  },
};

export const kotlin: Target = {
  language: 'kotlin',
  generator: 'kotlin-client',
  modelsDir: 'src/main/kotlin/microblog/client/models',
  apisDir: 'src/main/kotlin/microblog/client/apis',
  modelFile: (name) => `${name}.kt`,
  apiFile: (tag) => `${pascal(tag)}Api.kt`,
  operation: (operationId) => `fun ${operationId}(`,
  members(source) {
    const members = new Map<string, boolean>();
    // Our data_class_*_var templates put the JSON name and the declaration on one line.
    for (const [, json = '', type = ''] of source.matchAll(
      /^ {4}@com\.squareup\.moshi\.Json\(name = "([^"]+)"\) val (?:\w+|`[^`]+`): ([^=\n]+?)(?: = .*)?,?$/gm,
    )) {
      members.set(json, type.replace(/,$/, '').endsWith('?'));
    }
    return members;
  },
};

interface LogRule {
  level: string;
  message: RegExp;
  only?: Target['language'];
  why: string;
}

/**
 * The generator's log lines that are not about the contract. Every other line counts
 * as a problem: an ERROR, any other WARN, and INFO lines such as "Model X not imported
 * due to import mapping" (a schema name shadowed by a language type). swagger-codegen
 * logs no message at all for most contract faults (a dangling $ref, an unknown member),
 * so the 3.0 document is linted before it runs and the output is checked after.
 */
export const ACCEPTED_LOG_LINES: LogRule[] = [
  { level: 'INFO', message: /^writing file /, why: 'a file written' },
  {
    level: 'INFO',
    message: /^No \.swagger-codegen-ignore file found\.$/,
    why: 'the output folder is emptied before each run',
  },
  {
    level: 'WARN',
    message: /^Error \(reserved word\) cannot be used as model name\. Renamed to ModelError$/,
    only: 'swift',
    why: "the schema Error is Swift's Error type; the model is ModelError (checked below)",
  },
  {
    level: 'WARN',
    message: /^Self \(reserved word\) cannot be used as model name\. Renamed to ModelSelf$/,
    only: 'swift',
    why: 'asked about the member `self` of the *Links schemas; it becomes `_self` and no ModelSelf is made (checked below)',
  },
];

const LOG_LINE = /^\d\d:\d\d:\d\d\.\d{3} \[[^\]]*\] (TRACE|DEBUG|INFO|WARN|ERROR)\s+\S+ - (.*)$/;

/** Splits the generator's output into problems and accepted lines (counted per rule). */
export function readCodegenLog(
  output: string,
  language: Target['language'],
): { problems: string[]; accepted: Map<string, number> } {
  const problems: string[] = [];
  const accepted = new Map<string, number>();
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    const [, level, message = ''] = LOG_LINE.exec(line) ?? [];
    const rule = ACCEPTED_LOG_LINES.find(
      (r) => r.level === level && r.message.test(message) && (!r.only || r.only === language),
    );
    if (rule) accepted.set(rule.why, (accepted.get(rule.why) ?? 0) + 1);
    else if (!problems.includes(line.replace(/^[\d:.]+ /, '')))
      problems.push(line.replace(/^[\d:.]+ /, ''));
  }
  return { problems, accepted };
}

const SCHEMA_REF = '#/components/schemas/';

/**
 * Checks a generated SDK against the (3.0) contract it came from: one model per named
 * schema and no other (a generator that invents names such as InlineResponse200 or
 * Body1 for anonymous schemas has been fed an inline schema), one API class per tag with
 * a method per operation, and every member of every model under its JSON name, optional
 * exactly when the contract lets it be absent or null.
 */
export function checkSdk(
  files: Map<string, string>,
  target: Target,
  contract: Node,
  core = CORE_MODELS,
): string[] {
  const problems: string[] = [];
  const schemas = ((contract.components as Node | undefined)?.schemas ?? {}) as Record<
    string,
    Node
  >;
  const under = (dir: string) =>
    [...files.keys()]
      .filter((file) => file.startsWith(`${dir}/`))
      .map((file) => file.slice(dir.length + 1));

  for (const name of core)
    if (!(name in schemas)) problems.push(`the contract has no schema ${name}`);

  const expected = new Map(Object.keys(schemas).map((name) => [target.modelFile(name), name]));
  const made = under(target.modelsDir);
  const invented = made.filter((file) => !expected.has(file));
  if (invented.length > 0) {
    const inline = invented.filter((file) => /inline|body|oneof|anyof|allof/i.test(file));
    problems.push(
      `models the contract does not name: ${invented.join(', ')}` +
        (inline.length > 0
          ? ' (made up for inline schemas: give each one a name under components/schemas)'
          : ''),
    );
  }
  for (const [file, name] of expected) {
    const source = files.get(`${target.modelsDir}/${file}`);
    const schema = schemas[name];
    if (source === undefined || schema === undefined) {
      problems.push(`no model ${file} for the schema ${name}`);
      continue;
    }
    const members = target.members(source);
    const properties = (schema.properties ?? {}) as Record<string, Node>;
    const required = (schema.required ?? []) as string[];
    for (const [member, memberSchema] of Object.entries(properties)) {
      const optional = members.get(member);
      if (optional === undefined) {
        problems.push(`${file}: no member for "${member}"`);
        continue;
      }
      const ref =
        typeof memberSchema.$ref === 'string'
          ? schemas[memberSchema.$ref.slice(SCHEMA_REF.length)]
          : undefined;
      const mayBeMissing =
        !required.includes(member) || memberSchema.nullable === true || ref?.nullable === true;
      if (optional !== mayBeMissing) {
        problems.push(
          `${file}: "${member}" is ${optional ? 'optional' : 'not optional'}, but the contract says it ${mayBeMissing ? 'may be absent or null' : 'is always there'}`,
        );
      }
    }
    // A schema with additionalProperties gets a Swift member holding them.
    if (typeof schema.additionalProperties === 'object') members.delete('additionalProperties');
    for (const member of members.keys())
      if (!(member in properties))
        problems.push(`${file}: a member "${member}" the contract does not have`);
  }

  const operations = new Map<string, string[]>();
  for (const pathItem of Object.values((contract.paths ?? {}) as Record<string, Node>)) {
    for (const operation of Object.values(pathItem)) {
      if (typeof operation !== 'object' || operation === null || !('operationId' in operation))
        continue;
      const { operationId, tags } = operation as { operationId: string; tags?: string[] };
      const file = target.apiFile(tags?.[0] ?? 'default');
      operations.set(file, [...(operations.get(file) ?? []), operationId]);
    }
  }
  const apis = under(target.apisDir);
  for (const file of apis)
    if (!operations.has(file))
      problems.push(`an API class the contract's tags do not name: ${file}`);
  for (const [file, operationIds] of operations) {
    const source = files.get(`${target.apisDir}/${file}`);
    if (source === undefined) problems.push(`no API class ${file}`);
    else
      for (const id of operationIds)
        if (!source.includes(target.operation(id))) problems.push(`${file}: no method ${id}`);
  }

  for (const [file, source] of files)
    if (source.includes('ModelSelf')) problems.push(`${file}: a type was renamed to ModelSelf`);
  return problems;
}
