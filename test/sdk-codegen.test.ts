import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkSdk, kotlin, readCodegenLog, swift } from '../scripts/sdk/checks.js';
import {
  forEachSchema,
  inlineAliases,
  leftovers31,
  relaxRequiredNullables,
  toOpenApi30,
  type Node,
} from '../scripts/sdk/contract30.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => void;
const contract = () =>
  parse(readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8')) as Node;
const schemasOf = (doc: Node) => (doc.components as { schemas: Record<string, Node> }).schemas;

/**
 * Validates instances of the named schemas of a 3.1 document (JSON Schema 2020-12) or a
 * 3.0 one (Ajv knows `nullable`; 3.0's boolean exclusive bounds become draft 7's numbers).
 */
function validators(doc: Node): (name: string) => ValidateFunction {
  const is31 = String(doc.openapi).startsWith('3.1');
  const ajv = is31
    ? new Ajv2020({ strict: false, logger: false })
    : new Ajv({ strict: false, logger: false });
  addFormats(ajv as Ajv);
  const components = structuredClone(doc.components) as Node;
  if (!is31) {
    forEachSchema({ components }, (schema) => {
      for (const [flag, bound] of [
        ['exclusiveMinimum', 'minimum'],
        ['exclusiveMaximum', 'maximum'],
      ] as const) {
        if (schema[flag] === true) schema[flag] = schema[bound];
        if (schema[flag] === schema[bound] || schema[flag] === false)
          Reflect.deleteProperty(schema, schema[flag] === false ? flag : bound);
      }
    });
  }
  ajv.addSchema({ $id: 'doc.json', components });
  return (name) => ajv.compile({ $ref: `doc.json#/components/schemas/${name}` });
}

/** A valid instance of a 3.1 schema, from the examples the contract gives. */
function sample(schema: Node, schemas: Record<string, Node>): unknown {
  if (typeof schema.$ref === 'string')
    return sample(schemas[schema.$ref.split('/').pop() ?? ''] ?? {}, schemas);
  const examples = schema.examples as unknown[] | undefined;
  if (examples?.length) return examples[0];
  if (schema.type === 'object') {
    const properties = Object.entries((schema.properties ?? {}) as Record<string, Node>);
    return Object.fromEntries(properties.map(([key, member]) => [key, sample(member, schemas)]));
  }
  if (schema.type === 'array') return [sample(schema.items as Node, schemas)];
  return 'text';
}

/** An object schema's sample, and that sample with each member null, missing, mistyped, plus an extra one. */
function probes(schema: Node, schemas: Record<string, Node>): unknown[] {
  const example = sample(schema, schemas) as Record<string, unknown>;
  const found: unknown[] = [example, { ...example, unexpected: 1 }];
  for (const key of Object.keys(example)) {
    const without = Object.fromEntries(
      Object.entries(example).filter(([member]) => member !== key),
    );
    found.push(
      without,
      { ...example, [key]: null },
      { ...example, [key]: 42 },
      { ...example, [key]: 'text' },
      { ...example, [key]: 0 },
    );
  }
  return found;
}

/** Pairs of (3.1 verdict, 3.0 verdict) for every probe of every object schema with an example. */
function verdicts(doc31: Node, doc30: Node) {
  const in31 = validators(doc31);
  const in30 = validators(doc30);
  const pairs: { schema: string; probe: unknown; in31: boolean; in30: boolean }[] = [];
  for (const [name, schema] of Object.entries(schemasOf(doc31))) {
    if (schema.type !== 'object' || !('properties' in schema)) continue; // maps are put in place
    const [v31, v30] = [in31(name), in30(name)];
    for (const probe of probes(schema, schemasOf(doc31)))
      pairs.push({ schema: name, probe, in31: v31(probe), in30: v30(probe) });
  }
  return pairs;
}

describe('the OpenAPI 3.0 copy of the contract the SDK generators read', () => {
  it('is OpenAPI 3.0.3 with nothing of 3.1 left', () => {
    const source = contract();
    const doc = toOpenApi30(source);
    expect(doc.openapi).toBe('3.0.3');
    expect(leftovers31(doc)).toEqual([]);
    const info = doc.info as Node;
    const { summary, description } = source.info as Node;
    expect(info.summary).toBeUndefined();
    // 3.0 has no summary: it opens the description.
    expect(info.description).toBe(`${summary as string}\n\n${(description as string).trimEnd()}`);
  });

  it('keeps every operation and every schema with members', () => {
    const source = contract();
    const doc = toOpenApi30(source);
    const operations = (d: Node) =>
      Object.values(d.paths as Record<string, Record<string, { operationId?: string }>>).flatMap(
        (item) =>
          Object.values(item)
            .map((op) => op.operationId)
            .filter(Boolean),
      );
    expect(operations(doc)).toEqual(operations(source));
    const models = Object.keys(schemasOf(source)).filter(
      (name) => 'properties' in (schemasOf(source)[name] ?? {}),
    );
    expect(Object.keys(schemasOf(doc))).toEqual(models);
  });

  it('accepts and rejects exactly what the 3.1 contract does', () => {
    const source = contract();
    const pairs = verdicts(source, toOpenApi30(source));
    expect(pairs.length).toBeGreaterThan(300);
    expect(pairs.filter((p) => p.in31).length).toBeGreaterThan(20);
    expect(pairs.filter((p) => !p.in31).length).toBeGreaterThan(100);
    expect(pairs.filter((p) => p.in31 !== p.in30)).toEqual([]);
  });

  it('turns nullable types, const (even a falsy one) and numeric exclusive bounds into their 3.0 forms', () => {
    const source: Node = {
      openapi: '3.1.0',
      info: { title: 't', version: '1' },
      paths: {},
      components: {
        schemas: {
          Thing: {
            type: 'object',
            required: ['zero', 'note', 'size'],
            additionalProperties: false,
            properties: {
              zero: { const: 0 },
              off: { type: 'boolean', const: false },
              note: { type: ['string', 'null'], maxLength: 3 },
              size: { type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 10 },
            },
            examples: [{ zero: 0, note: null, size: 5 }],
          },
        },
      },
    };
    const doc = toOpenApi30(source);
    expect(schemasOf(doc).Thing?.properties).toEqual({
      zero: { enum: [0] },
      off: { type: 'boolean', enum: [false] },
      note: { type: 'string', maxLength: 3, nullable: true },
      size: {
        type: 'integer',
        minimum: 0,
        exclusiveMinimum: true,
        maximum: 10,
        exclusiveMaximum: true,
      },
    });
    const pairs = verdicts(source, doc);
    expect(pairs.filter((p) => p.in31 !== p.in30)).toEqual([]);
    expect(
      pairs.find((p) => JSON.stringify(p.probe) === '{"zero":42,"note":null,"size":5}'),
    ).toMatchObject({ in31: false, in30: false });
  });

  it('refuses to drop keywords written beside a $ref, which OpenAPI 3.0 ignores', () => {
    const source: Node = {
      openapi: '3.1.0',
      info: { title: 't', version: '1' },
      paths: {},
      components: {
        schemas: {
          Link: { type: 'object', properties: { href: { type: 'string' } } },
          Thing: {
            type: 'object',
            properties: {
              next: { $ref: '#/components/schemas/Link', readOnly: true, description: 'kept' },
            },
          },
        },
      },
    };
    expect(() => toOpenApi30(source)).toThrow(
      'components.schemas.Thing.properties.next: readOnly beside $ref',
    );
  });

  it("puts the contract's named scalar schemas in place, keeping the description written beside the $ref", () => {
    const doc = contract();
    const inlined = inlineAliases(doc);
    expect(inlined).toEqual(
      expect.arrayContaining([
        'Id',
        'Username',
        'Email',
        'AboutMe',
        'Timestamp',
        'Count',
        'PostText',
      ]),
    );
    const schemas = schemasOf(doc);
    expect(schemas.Id).toBeUndefined();
    expect(schemas.User?.properties).toMatchObject({
      email: {
        type: 'string',
        format: 'email',
        maxLength: 120,
        description: "Present only in the user's own record and in the answer to its registration.",
      },
      about_me: { type: ['string', 'null'], maxLength: 140 },
    });
    const userId = (doc.components as { parameters: Record<string, Node> }).parameters.UserId;
    expect(userId?.schema).toMatchObject({ type: 'integer', format: 'int64', minimum: 1 });
    expect(JSON.stringify(doc)).not.toMatch(
      /#\/components\/schemas\/(Id|Username|Email|AboutMe|Timestamp|Count)"/,
    );
  });

  it('puts named arrays and maps in place too, each alias inside them first', () => {
    const doc: Node = {
      openapi: '3.1.0',
      info: { title: 't', version: '1' },
      paths: {},
      components: {
        schemas: {
          Id: { type: 'integer', minimum: 1 },
          Ids: { type: 'array', items: { $ref: '#/components/schemas/Id' } },
          Names: { type: 'object', additionalProperties: { type: 'string' } },
          Kind: { type: 'string', enum: ['a', 'b'] },
          Thing: {
            type: 'object',
            properties: {
              ids: { $ref: '#/components/schemas/Ids', description: 'The ids.' },
              names: { $ref: '#/components/schemas/Names' },
              kind: { $ref: '#/components/schemas/Kind' },
            },
          },
        },
      },
    };
    expect(inlineAliases(doc)).toEqual(['Id', 'Ids', 'Names']);
    expect(schemasOf(doc)).toEqual({
      Kind: { type: 'string', enum: ['a', 'b'] },
      Thing: {
        type: 'object',
        properties: {
          ids: { type: 'array', items: { type: 'integer', minimum: 1 }, description: 'The ids.' },
          names: { type: 'object', additionalProperties: { type: 'string' } },
          kind: { $ref: '#/components/schemas/Kind' },
        },
      },
    });
  });

  it('refuses a named array that contains itself', () => {
    const doc: Node = {
      components: {
        schemas: { Tree: { type: 'array', items: { $ref: '#/components/schemas/Tree' } } },
      },
      paths: {
        '/t': {
          get: {
            responses: {
              200: {
                content: { 'application/json': { schema: { $ref: '#/components/schemas/Tree' } } },
              },
            },
          },
        },
      },
    };
    expect(() => inlineAliases(doc)).toThrow('the schema Tree → Tree refers to itself');
  });

  it('makes required members that may be null optional for the generator, and nothing else', () => {
    const doc = toOpenApi30(contract());
    const before = structuredClone(doc);
    expect(relaxRequiredNullables(doc)).toEqual([
      'User.about_me',
      'PageLinks.next',
      'PageLinks.prev',
    ]);
    expect(schemasOf(doc).User?.required).toEqual([
      'id',
      'username',
      'last_seen',
      'post_count',
      'follower_count',
      'followed_count',
      '_links',
    ]);
    expect(schemasOf(doc).PageLinks?.required).toEqual(['self']);
    Object.assign(schemasOf(before).User ?? {}, { required: schemasOf(doc).User?.required });
    Object.assign(schemasOf(before).PageLinks ?? {}, { required: ['self'] });
    expect(doc).toEqual(before);
  });
});

describe('reading swagger-codegen log', () => {
  const line = (level: string, message: string) =>
    `02:24:37.541 [Thread-0] ${level.padEnd(5)} i.s.c.v.g.swift.Swift5Codegen - ${message}`;

  it('accepts written files and the renames the output is checked for', () => {
    const log = [
      line('INFO', 'writing file /x/sdk-out/swift/MicroblogAPI/Classes/Swaggers/Models/User.swift'),
      line('INFO', 'No .swagger-codegen-ignore file found.'),
      line('WARN', 'Error (reserved word) cannot be used as model name. Renamed to ModelError'),
      line('WARN', 'Error (reserved word) cannot be used as model name. Renamed to ModelError'),
      line('WARN', 'Self (reserved word) cannot be used as model name. Renamed to ModelSelf'),
      '',
    ].join('\n');
    const read = readCodegenLog(log, 'swift');
    expect(read.problems).toEqual([]);
    expect([...read.accepted.values()]).toEqual([1, 1, 2, 1]);
  });

  it('counts every other line, whatever its level, once', () => {
    const log = [
      line('WARN', 'Error (reserved word) cannot be used as model name. Renamed to ModelError'),
      line('INFO', 'Model Date not imported due to import mapping'),
      line('INFO', 'Model Date not imported due to import mapping'),
      line(
        'WARN',
        'Empty operationId found for path: post /b. Renamed to auto-generated operationId: bPost',
      ),
      line('ERROR', 'Could not process model'),
      'Exception in thread "Thread-0" java.lang.IllegalArgumentException: Template directory does not exist.',
    ].join('\n');
    expect(readCodegenLog(log, 'kotlin').problems).toEqual([
      '[Thread-0] WARN  i.s.c.v.g.swift.Swift5Codegen - Error (reserved word) cannot be used as model name. Renamed to ModelError',
      '[Thread-0] INFO  i.s.c.v.g.swift.Swift5Codegen - Model Date not imported due to import mapping',
      '[Thread-0] WARN  i.s.c.v.g.swift.Swift5Codegen - Empty operationId found for path: post /b. Renamed to auto-generated operationId: bPost',
      '[Thread-0] ERROR i.s.c.v.g.swift.Swift5Codegen - Could not process model',
      'Exception in thread "Thread-0" java.lang.IllegalArgumentException: Template directory does not exist.',
    ]);
  });
});

describe('checking a generated SDK against the contract', () => {
  const doc: Node = {
    paths: {
      '/things/{id}': {
        parameters: [],
        get: { operationId: 'getThing', tags: ['things'] },
        delete: { operationId: 'deleteThing', tags: ['things'] },
      },
    },
    components: {
      schemas: {
        Error: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } },
        Thing: {
          type: 'object',
          required: ['id', 'last_seen', 'note'],
          properties: {
            id: { type: 'integer' },
            last_seen: { type: 'string' },
            note: { type: 'string', nullable: true },
            self: { type: 'string' },
          },
        },
      },
    },
  };
  const swiftThing = (noteType = 'String?') => `public struct Thing: Codable {
    public var _id: Int64
    public var lastSeen: Date
    public var note: ${noteType}
    public var _self: String?

    public init(_id: Int64, lastSeen: Date, note: String? = nil, _self: String? = nil) {
        self._id = _id
    }

    public enum CodingKeys: String, CodingKey { 
        case _id = "id"
        case lastSeen = "last_seen"
        case note
        case _self = "self"
    }
}`;
  const swiftFiles = (thing = swiftThing()) =>
    new Map([
      [
        `${swift.modelsDir}/ModelError.swift`,
        'public struct ModelError: Codable {\n    public var error: String\n',
      ],
      [`${swift.modelsDir}/Thing.swift`, thing],
      [
        `${swift.apisDir}/ThingsAPI.swift`,
        'open class func getThing(_id: Int64) {}\nopen class func deleteThing(_id: Int64) {}',
      ],
    ]);
  const kotlinThing = `data class Thing (
    @com.squareup.moshi.Json(name = "id") val id: kotlin.Long,
    /* A comment. */
    @com.squareup.moshi.Json(name = "last_seen") val lastSeen: java.util.Date,
    @com.squareup.moshi.Json(name = "note") val note: kotlin.String? = null,
    @com.squareup.moshi.Json(name = "self") val self: kotlin.String? = null
) {
}`;
  const kotlinFiles = (thing = kotlinThing) =>
    new Map([
      [
        `${kotlin.modelsDir}/Error.kt`,
        'data class Error (\n    @com.squareup.moshi.Json(name = "error") val error: kotlin.String\n) {\n}',
      ],
      [`${kotlin.modelsDir}/Thing.kt`, thing],
      [
        `${kotlin.apisDir}/ThingsApi.kt`,
        'fun getThing(id: kotlin.Long): Thing {}\nfun deleteThing(id: kotlin.Long): Unit {}',
      ],
    ]);

  it('passes an SDK with a model per schema, members under their JSON names, and a method per operation', () => {
    expect(checkSdk(swiftFiles(), swift, doc, [])).toEqual([]);
    expect(checkSdk(kotlinFiles(), kotlin, doc, [])).toEqual([]);
  });

  it('names the models a generator made up for inline schemas', () => {
    const files = swiftFiles();
    files.set(
      `${swift.modelsDir}/InlineResponse200.swift`,
      'public struct InlineResponse200: Codable {}',
    );
    files.set(`${swift.modelsDir}/ThingBody.swift`, 'public struct ThingBody: Codable {}');
    expect(checkSdk(files, swift, doc, [])).toEqual([
      'models the contract does not name: InlineResponse200.swift, ThingBody.swift (made up for inline schemas: give each one a name under components/schemas)',
    ]);
  });

  it('finds a member that cannot hold the null the contract allows', () => {
    expect(checkSdk(swiftFiles(swiftThing('String')), swift, doc, [])).toEqual([
      'Thing.swift: "note" is not optional, but the contract says it may be absent or null',
    ]);
  });

  it('finds members Moshi would look for under their Kotlin names', () => {
    const problems = checkSdk(
      kotlinFiles(kotlinThing.replace('@com.squareup.moshi.Json(name = "last_seen") ', '')),
      kotlin,
      doc,
      [],
    );
    expect(problems).toEqual(['Thing.kt: no member for "last_seen"']);
  });

  it('finds missing models, API classes, methods and core schemas', () => {
    const files = kotlinFiles();
    files.delete(`${kotlin.modelsDir}/Error.kt`);
    files.set(`${kotlin.apisDir}/ThingsApi.kt`, 'fun getThing(id: kotlin.Long): Thing {}');
    files.set(`${kotlin.apisDir}/DefaultApi.kt`, '');
    expect(checkSdk(files, kotlin, doc, ['Thing', 'User'])).toEqual([
      'the contract has no schema User',
      'no model Error.kt for the schema Error',
      "an API class the contract's tags do not name: DefaultApi.kt",
      'ThingsApi.kt: no method deleteThing',
    ]);
  });
});
