import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadContract } from '../src/contract.js';
import { projectRoot } from '../src/paths.js';

interface LintProblem {
  ruleId: string;
  location: { source: { ref: string }; pointer: string }[];
}

type Json = Record<string, unknown>;

/** Walks `doc` along `keys`, which must all exist. */
function at(doc: unknown, ...keys: string[]): Json {
  let node = doc;
  for (const key of keys) {
    node = (node as Json)[key];
    if (node === undefined) throw new Error(`no ${keys.join('/')} in the contract`);
  }
  return node as Json;
}

const inlineObject = () => ({
  type: 'object',
  description: 'An object a generator would have to name.',
  properties: { name: { type: 'string', description: 'A name.', examples: ['x'] } },
});

/**
 * Each breaks the contract in one place and names the rule that must catch it there
 * (by the start of the JSON pointer it reports).
 */
const breakages: { what: string; rule: string; pointer: string; apply(doc: Json): void }[] = [
  {
    what: 'an inline object as a response body',
    rule: 'rule/body-schema-named',
    pointer: '#/paths/~1api/get/responses/200/content/application~1json/schema',
    apply: (doc) => {
      at(doc, 'paths', '/api', 'get', 'responses', '200', 'content', 'application/json').schema =
        inlineObject();
    },
  },
  {
    what: 'an inline object as a request body',
    rule: 'rule/body-schema-named',
    pointer: '#/paths/~1api~1posts/post/requestBody/content/application~1json/schema',
    apply: (doc) => {
      at(doc, 'paths', '/api/posts', 'post', 'requestBody', 'content', 'application/json').schema =
        inlineObject();
    },
  },
  {
    what: 'an inline object as a property',
    rule: 'rule/property-object-named',
    pointer: '#/components/schemas/Token/properties/owner',
    apply: (doc) => {
      at(doc, 'components', 'schemas', 'Token', 'properties').owner = inlineObject();
    },
  },
  {
    what: 'an inline object as array items',
    rule: 'rule/nested-object-named',
    pointer: '#/components/schemas/Error/properties/errors/items',
    apply: (doc) => {
      at(doc, 'components', 'schemas', 'Error', 'properties', 'errors').items = inlineObject();
    },
  },
  {
    what: 'an inline object as map values',
    rule: 'rule/nested-object-named',
    pointer: '#/components/schemas/IgnoredLinks/additionalProperties',
    apply: (doc) => {
      at(doc, 'components', 'schemas', 'IgnoredLinks').additionalProperties = inlineObject();
    },
  },
  {
    what: 'an inline object in a oneOf',
    rule: 'rule/composed-object-named',
    pointer: '#/components/schemas/AboutMe/oneOf/0',
    apply: (doc) => {
      at(doc, 'components', 'schemas').AboutMe = {
        description: 'Either.',
        oneOf: [inlineObject(), { type: 'string', description: 'Or a string.' }],
      };
    },
  },
  {
    what: 'an inline object as a parameter',
    rule: 'rule/parameter-object-named',
    pointer: '#/components/parameters/Filter/schema',
    apply: (doc) => {
      at(doc, 'components', 'parameters').Filter = {
        name: 'filter',
        in: 'query',
        description: 'A filter.',
        style: 'deepObject',
        schema: inlineObject(),
      };
      (at(doc, 'paths', '/api/users', 'get').parameters as unknown[]).push({
        $ref: '#/components/parameters/Filter',
      });
    },
  },
  {
    what: 'an inline object as a header',
    rule: 'rule/header-object-named',
    pointer: '#/components/responses/NotModified/headers/X-Debug/schema',
    apply: (doc) => {
      at(doc, 'components', 'responses', 'NotModified', 'headers')['X-Debug'] = {
        description: 'Debugging data.',
        schema: inlineObject(),
      };
    },
  },
  {
    what: 'properties without `type: object`',
    rule: 'rule/object-schema-declares-type',
    pointer: '#/components/schemas/PostLinks',
    apply: (doc) => {
      delete at(doc, 'components', 'schemas', 'PostLinks').type;
    },
  },
  {
    what: 'a named schema without a description',
    rule: 'rule/named-schema-description',
    pointer: '#/components/schemas/Timestamp',
    apply: (doc) => {
      delete at(doc, 'components', 'schemas', 'Timestamp').description;
    },
  },
  {
    what: 'a property without a description',
    rule: 'rule/property-description',
    pointer: '#/components/schemas/PageMeta/properties/page',
    apply: (doc) => {
      delete at(doc, 'components', 'schemas', 'PageMeta', 'properties', 'page').description;
    },
  },
  {
    what: 'a header without a description',
    rule: 'rule/header-description',
    pointer: '#/components/headers/Location',
    apply: (doc) => {
      delete at(doc, 'components', 'headers', 'Location').description;
    },
  },
  {
    what: 'a request body without an example',
    rule: 'rule/request-body-example',
    pointer: '#/paths/~1api~1posts~1{id}/put/requestBody/content/application~1json',
    apply: (doc) => {
      delete at(
        doc,
        'paths',
        '/api/posts/{id}',
        'put',
        'requestBody',
        'content',
        'application/json',
      ).example;
    },
  },
  {
    what: 'an operation without a description',
    rule: 'operation-description',
    pointer: '#/paths/~1api~1users/get',
    apply: (doc) => {
      delete at(doc, 'paths', '/api/users', 'get').description;
    },
  },
  {
    what: 'an operation without a summary',
    rule: 'operation-summary',
    pointer: '#/paths/~1api~1users/post',
    apply: (doc) => {
      delete at(doc, 'paths', '/api/users', 'post').summary;
    },
  },
  {
    what: 'an operation without an operationId',
    rule: 'operation-operationId',
    pointer: '#/paths/~1api~1users~1{id}/get',
    apply: (doc) => {
      delete at(doc, 'paths', '/api/users/{id}', 'get').operationId;
    },
  },
  {
    what: 'an operation without a tag',
    rule: 'rule/operation-tag',
    pointer: '#/paths/~1api~1users~1{id}/put',
    apply: (doc) => {
      delete at(doc, 'paths', '/api/users/{id}', 'put').tags;
    },
  },
  {
    what: 'an operation with an undeclared tag',
    rule: 'operation-tag-defined',
    pointer: '#/paths/~1api~1posts/get/tags',
    apply: (doc) => {
      at(doc, 'paths', '/api/posts', 'get').tags = ['timelines'];
    },
  },
  {
    what: 'an operation without 4xx responses',
    rule: 'operation-4xx-response',
    pointer: '#/paths/~1api~1tokens/delete/responses',
    apply: (doc) => {
      const operation = at(doc, 'paths', '/api/tokens', 'delete');
      operation.responses = Object.fromEntries(
        Object.entries(at(operation, 'responses')).filter(([status]) => !status.startsWith('4')),
      );
    },
  },
  {
    what: 'a media type example that breaks its schema',
    rule: 'no-invalid-media-type-examples',
    pointer: '#/components/responses/ForbiddenUser/content/application~1json/examples/notYours',
    apply: (doc) => {
      at(doc, 'components', 'responses', 'ForbiddenUser', 'content', 'application/json', 'examples', 'notYours').value = {
        error: 403,
      };
    },
  },
  {
    what: 'a schema example that breaks its schema',
    rule: 'no-invalid-schema-examples',
    pointer: '#/components/schemas/Username/examples/0',
    apply: (doc) => {
      at(doc, 'components', 'schemas', 'Username').examples = ['not a username!'];
    },
  },
  {
    what: 'a parameter example that breaks its schema',
    rule: 'no-invalid-parameter-examples',
    pointer: '#/components/parameters/IdempotencyKey/example',
    apply: (doc) => {
      at(doc, 'components', 'parameters', 'IdempotencyKey').example = '';
    },
  },
];

const cli = path.join(projectRoot, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');

/** Runs `redocly lint` with the project's ruleset, as `npm run lint:contract` does. */
async function lint(...files: string[]): Promise<{ exitCode: number; problems: LintProblem[] }> {
  const args = [
    cli,
    'lint',
    ...files,
    '--config',
    path.join(projectRoot, 'redocly.yaml'),
    '--lint-config',
    'error',
    '--format',
    'json',
  ];
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' };
  try {
    const { stdout } = await promisify(execFile)(process.execPath, args, {
      cwd: projectRoot,
      env,
      maxBuffer: 1 << 24,
    });
    return { exitCode: 0, problems: (JSON.parse(stdout) as { problems: LintProblem[] }).problems };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number' || !failed.stdout?.trim().startsWith('{')) throw error;
    return {
      exitCode: failed.code,
      problems: (JSON.parse(failed.stdout) as { problems: LintProblem[] }).problems,
    };
  }
}

describe('the contract lint (redocly.yaml)', () => {
  let dir: string;
  let clean: { exitCode: number; problems: LintProblem[] };
  let broken: { exitCode: number; problems: LintProblem[] };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'contract-lint-'));
    const doc = loadContract().document();
    for (const breakage of breakages) breakage.apply(doc);
    await writeFile(path.join(dir, 'broken.yaml'), stringify(doc));
    await writeFile(path.join(dir, 'clean.yaml'), loadContract().yaml);
    // Separate runs: redocly's exit code covers all the files it was given.
    [clean, broken] = await Promise.all([
      lint(path.join(dir, 'clean.yaml')),
      lint(path.join(dir, 'broken.yaml')),
    ]);
  }, 60_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('passes openapi.yaml with no problem at all', () => {
    expect(clean.problems).toEqual([]);
    expect(clean.exitCode).toBe(0);
  });

  it('fails a contract that breaks the rules', () => {
    expect(broken.exitCode).not.toBe(0);
  });

  it.each(breakages.map((b) => [b.what, b.rule, b.pointer] as const))(
    'catches %s (%s)',
    (_what, rule, pointer) => {
      const reported = broken.problems
        .filter((problem) => problem.ruleId === rule)
        .flatMap((problem) => problem.location.map((location) => location.pointer));
      expect(
        reported.some((at) => at.startsWith(pointer)),
        `${rule} at ${pointer}; it reported ${reported.join(', ')}`,
      ).toBe(true);
    },
  );
});
