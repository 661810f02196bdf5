import { describe, expect, it } from 'vitest';
import { loadContract } from '../src/contract.js';
import { operationsOf, resolveRef } from './support/contract.js';
import { checkExamples, type ExampleKind } from './support/contract-examples.js';

type Json = Record<string, unknown>;

/** A fresh copy of openapi.yaml, parsed. */
const contract = (): Json => loadContract().document();

/** Walks `doc` along `keys`, which must all exist. */
function at(doc: unknown, ...keys: string[]): Json {
  let node = doc;
  for (const key of keys) {
    node = (node as Json)[key];
    if (node === undefined) throw new Error(`no ${keys.join('/')} in the contract`);
  }
  return node as Json;
}

describe('openapi.yaml examples', () => {
  const report = checkExamples(contract());

  it('all validate against their schemas', () => {
    expect(report.problems).toEqual([]);
  });

  it.each<ExampleKind>(['schema', 'media type', 'parameter', 'header'])(
    'include %s examples, which were checked',
    (kind) => {
      expect(report.checked.filter((example) => example.kind === kind).length).toBeGreaterThan(0);
    },
  );
});

describe('the example check', () => {
  /** Breaks one example in a copy of the contract and returns what the check finds wrong there. */
  function problemsAfter(breakIt: (doc: Json) => void): { pointer: string; message: string }[] {
    const doc = contract();
    breakIt(doc);
    return checkExamples(doc).problems.map(({ pointer, message }) => ({ pointer, message }));
  }

  it('catches a schema example that breaks its pattern', () => {
    expect(
      problemsAfter((doc) => {
        at(doc, 'components', 'schemas', 'Username').examples = ['susan', 'no spaces allowed'];
      }),
    ).toEqual([
      {
        pointer: '#/components/schemas/Username/examples/1',
        message: 'example must match pattern "^[A-Za-z0-9_.-]+$"',
      },
    ]);
  });

  it('catches a property example that breaks its format', () => {
    expect(
      problemsAfter((doc) => {
        at(doc, 'components', 'schemas', 'UserLinks', 'properties', 'avatar').examples = [
          'not a uri',
        ];
      }),
    ).toEqual([
      {
        pointer: '#/components/schemas/UserLinks/properties/avatar/examples/0',
        message: 'example must match format "uri"',
      },
    ]);
  });

  it('follows $refs: an object example breaking a referenced schema', () => {
    const [user] = at(contract(), 'components', 'schemas', 'User').examples as Json[];
    expect(
      problemsAfter((doc) => {
        at(doc, 'components', 'schemas', 'UserCollection').examples = [
          {
            items: [{ ...user, username: undefined, nickname: 'sue' }],
            _meta: { page: 1, per_page: 10, total_pages: 1, total_items: 1 },
            _links: { self: '/api/users', next: null, prev: null },
          },
        ];
      }),
    ).toEqual([
      {
        pointer: '#/components/schemas/UserCollection/examples/0',
        message:
          "example/items/0 must have required property 'username', example/items/0 must NOT have additional properties",
      },
    ]);
  });

  it('catches a named media type example that breaks its schema', () => {
    expect(
      problemsAfter((doc) => {
        const invalid = at(
          doc,
          'components',
          'responses',
          'BadRequestRegistration',
          'content',
          'application/json',
          'examples',
          'invalidEmail',
        );
        invalid.value = { error: 'Bad Request', message: 'email: is invalid', errors: [{ path: '/body/email' }] };
      }),
    ).toEqual([
      {
        pointer: '#/components/responses/BadRequestRegistration/content/application~1json/examples/invalidEmail',
        message: "example/errors/0 must have required property 'message'",
      },
    ]);
  });

  it('catches a request body example that breaks its schema', () => {
    expect(
      problemsAfter((doc) => {
        at(
          doc,
          'paths',
          '/api/posts',
          'post',
          'requestBody',
          'content',
          'application/json',
        ).example = { body: '   ' };
      }),
    ).toEqual([
      {
        pointer: '#/paths/~1api~1posts/post/requestBody/content/application~1json/example',
        message: expect.stringMatching(/^example\/body must match pattern/),
      },
    ]);
  });

  it('catches a media type example that is a $ref to components/examples', () => {
    expect(
      problemsAfter((doc) => {
        at(doc, 'components').examples = {
          NoMessage: { summary: 'Broken', value: { message: 'no reason phrase' } },
        };
        at(doc, 'components', 'responses', 'ForbiddenUser', 'content', 'application/json').examples = {
          broken: { $ref: '#/components/examples/NoMessage' },
        };
      }),
    ).toEqual([
      {
        pointer: '#/components/responses/ForbiddenUser/content/application~1json/examples/broken',
        message: "example must have required property 'error'",
      },
    ]);
  });

  it('catches a parameter example that breaks its schema', () => {
    expect(
      problemsAfter((doc) => {
        at(doc, 'components', 'parameters', 'IdempotencyKey').example = 'two words';
      }),
    ).toEqual([
      {
        pointer: '#/components/parameters/IdempotencyKey/example',
        message: 'example must match pattern "^[\\x21-\\x7E]+$"',
      },
    ]);
  });

  it('catches a header example that breaks its schema', () => {
    expect(
      problemsAfter((doc) => {
        at(doc, 'components', 'headers', 'RetryAfter').example = 'soon';
      }),
    ).toEqual([
      { pointer: '#/components/headers/RetryAfter/example', message: 'example must be integer' },
    ]);
  });

  it('reports a schema with an unknown keyword (a typo) instead of ignoring it', () => {
    const problems = problemsAfter((doc) => {
      at(doc, 'components', 'schemas', 'Username').minLenght = 3;
    });
    // Every example whose schema reaches Username fails, Username's own first.
    expect(problems[0]).toEqual({
      pointer: '#/components/schemas/Username/examples/0',
      message: 'the schema does not compile: strict mode: unknown keyword: "minLenght"',
    });
    expect(problems.map(({ pointer }) => pointer)).toEqual(
      expect.arrayContaining([
        '#/components/schemas/User/examples/0',
        '#/paths/~1api~1users/post/requestBody/content/application~1json/examples/susan',
      ]),
    );
    expect(new Set(problems.map(({ message }) => message)).size).toBe(1);
  });
});

describe('openapi.yaml operations', () => {
  const doc = contract();
  const operations = operationsOf(doc);

  it('are all found', () => {
    expect(operations.length).toBeGreaterThanOrEqual(19);
  });

  it.each(
    operations.map(
      ({ method, route, operation }) => [`${method.toUpperCase()} ${route}`, operation] as const,
    ),
  )(
    '%s has an operationId, a declared tag, a summary, a description, 4xx answers; errors carry the error body and request id',
    (_name, operation) => {
      const declaredTags = (doc.tags as { name: string }[]).map((tag) => tag.name);
      expect(operation.operationId).toMatch(/^[a-z][A-Za-z]+$/);
      expect(operation.tags).toHaveLength(1);
      expect(declaredTags).toContain((operation.tags as string[])[0]);
      expect(operation.summary).toEqual(expect.any(String));
      expect(operation.description).toEqual(expect.any(String));
      const statuses = Object.keys(operation.responses as Json);
      expect(statuses.filter((status) => /^4(\d\d|XX)$/.test(status)).length).toBeGreaterThan(0);
      for (const status of statuses.filter((status) => /^[45]/.test(status))) {
        const response = resolveRef(doc, (operation.responses as Json)[status]) as Json;
        // The readiness probe's 503 says which check failed, in its own shape.
        const body = operation.operationId === 'getReadiness' && status === '503' ? 'Readiness' : 'Error';
        expect(at(response, 'content', 'application/json', 'schema').$ref).toBe(`#/components/schemas/${body}`);
        // The SDK's MicroblogApiError.requestId reads it. A 431 is sent by Node before the
        // request exists, let alone an id (src/http/client-errors.ts).
        if (status !== '431') expect(at(response, 'headers', 'X-Request-Id').$ref).toBe('#/components/headers/RequestId');
      }
    },
  );

  it('have unique operationIds', () => {
    const ids = operations.map(({ operation }) => operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
