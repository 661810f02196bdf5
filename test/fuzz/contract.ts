import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import path from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { parse } from 'yaml';
import { projectRoot } from '../../src/paths.js';

/** A JSON Schema as it appears in the contract (3.1: plain JSON Schema 2020-12). */
export type Schema = Record<string, unknown>;

export const HTTP_METHODS = [
  'get',
  'put',
  'post',
  'delete',
  'options',
  'head',
  'patch',
  'trace',
] as const;

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required: boolean;
  schema: Schema;
  /** The name under components/parameters it was referenced by, if any (UserId, PostId …). */
  component: string | undefined;
}

export interface Operation {
  operationId: string;
  method: string;
  /** The path template, such as /api/users/{id}. */
  path: string;
  parameters: Parameter[];
  /** The JSON request body's schema, when the operation takes one. */
  body: { schema: Schema; required: boolean } | undefined;
  /** The security scheme names it takes, or [] when it is public. */
  security: string[];
  /** Declared status codes (and 'default') with their media types. */
  responses: Map<string, { content: Map<string, Schema>; headers: Map<string, Schema> }>;
}

export interface Contract {
  document: Schema;
  operations: Operation[];
  /** Resolves a local reference such as #/components/schemas/User. */
  resolve<T = Schema>(ref: string): T;
  /** Ajv over the contract, with OpenAPI's formats. */
  ajv: Ajv2020;
  /** A validator for a schema of the contract, cached by identity. */
  validator(schema: Schema): ValidateFunction;
}

/**
 * Reads openapi.yaml from disk on its own (not through the app's loader), so that the fuzzer
 * checks the server against the contract as written.
 */
export function loadContract(): Contract {
  const document = parse(readFileSync(path.join(projectRoot, 'openapi.yaml'), 'utf8')) as Schema;
  const resolve = <T = Schema>(ref: string): T => {
    if (!ref.startsWith('#/')) throw new Error(`only local references are supported: ${ref}`);
    let node: unknown = document;
    for (const part of ref.slice(2).split('/')) {
      node = (node as Record<string, unknown> | undefined)?.[
        part.replace(/~1/g, '/').replace(/~0/g, '~')
      ];
    }
    if (node === undefined) throw new Error(`unresolved reference ${ref}`);
    return node as T;
  };
  const deref = <T>(node: T | { $ref: string }): T =>
    node !== null && typeof node === 'object' && '$ref' in node
      ? deref(resolve<T>(node.$ref))
      : (node as T);

  // The document goes in as it is, under an id, so that every '#/components/…' reference
  // inside a schema resolves against it; an operation's schema is compiled by reference.
  const ajv = new Ajv2020({
    allErrors: true,
    strict: true,
    strictTypes: false,
    strictTuples: false,
  });
  ajv.addVocabulary([
    'openapi',
    'info',
    'servers',
    'tags',
    'paths',
    'components',
    'security',
    'webhooks',
    'externalDocs',
  ]);
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  // `format: email` as RFC 5321 has it, and Schemathesis checks it: ajv-formats' regex
  // forgets the limit of 64 characters before the `@`.
  const ajvEmail = fullFormats.email as RegExp;
  ajv.addFormat('email', (value: string) => ajvEmail.test(value) && value.indexOf('@') <= 64);
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
  });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addSchema({ ...document, $id: 'contract' });

  const validators = new WeakMap<Schema, ValidateFunction>();
  const validator = (schema: Schema): ValidateFunction => {
    let fn = validators.get(schema);
    if (!fn) {
      fn = ajv.compile(rebase(schema));
      validators.set(schema, fn);
    }
    return fn;
  };

  const operations: Operation[] = [];
  const paths = (document.paths ?? {}) as Record<string, Record<string, unknown>>;
  const globalSecurity = (document.security ?? []) as Record<string, unknown>[];
  for (const [template, item] of Object.entries(paths)) {
    const shared = (item.parameters ?? []) as unknown[];
    for (const method of HTTP_METHODS) {
      const op = item[method] as Record<string, unknown> | undefined;
      if (!op) continue;
      const parameters = new Map<string, Parameter>();
      for (const raw of [...shared, ...((op.parameters ?? []) as unknown[])]) {
        const component = (raw as { $ref?: string }).$ref?.replace('#/components/parameters/', '');
        const p = deref(raw as Parameter & { $ref: string });
        parameters.set(`${p.in}:${p.name}`, {
          name: p.name,
          in: p.in,
          required: p.required === true,
          schema: p.schema,
          component,
        });
      }
      const requestBody = op.requestBody
        ? deref(
            op.requestBody as { required?: boolean; content: Record<string, { schema: Schema }> },
          )
        : undefined;
      const jsonBody = requestBody?.content['application/json'];
      if (requestBody && (!jsonBody || Object.keys(requestBody.content).length !== 1)) {
        throw new Error(`${op.operationId}: the fuzzer only knows JSON request bodies`);
      }
      const responses = new Map<
        string,
        { content: Map<string, Schema>; headers: Map<string, Schema> }
      >();
      for (const [status, raw] of Object.entries((op.responses ?? {}) as Record<string, unknown>)) {
        const r = deref(
          raw as {
            content?: Record<string, { schema: Schema }>;
            headers?: Record<string, unknown>;
          },
        );
        responses.set(status, {
          content: new Map(Object.entries(r.content ?? {}).map(([type, m]) => [type, m.schema])),
          headers: new Map(
            Object.entries(r.headers ?? {}).map(([name, h]) => [
              name.toLowerCase(),
              deref(h as { schema: Schema }).schema,
            ]),
          ),
        });
      }
      const security = (op.security ?? globalSecurity) as Record<string, unknown>[];
      operations.push({
        operationId: String(op.operationId),
        method: method.toUpperCase(),
        path: template,
        parameters: [...parameters.values()],
        body: jsonBody
          ? { schema: jsonBody.schema, required: requestBody?.required === true }
          : undefined,
        security: security.flatMap((s) => Object.keys(s)),
        responses,
      });
    }
  }
  return { document, operations, resolve, ajv, validator };
}

/** Local references of a schema point into the document added under the id 'contract'. */
function rebase(schema: Schema): Schema {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) =>
    key === '$ref' && typeof value === 'string' && value.startsWith('#/')
      ? `contract${value}`
      : value,
  ) as Schema;
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * Everything wrong with an answer as far as the contract can tell, independently of the
 * server's own response validation: an undeclared status, an undeclared media type, a
 * body that does not match its schema, a declared header whose value does not, a body on
 * a response that declares none, or an error body whose `error` is not the reason phrase.
 */
export function contractViolations(contract: Contract, op: Operation, answer: Answer): string[] {
  const problems: string[] = [];
  const declared = op.responses.get(String(answer.status)) ?? op.responses.get('default');
  if (!declared) return [`status ${answer.status} is not declared for ${op.operationId}`];

  const mediaType =
    (answer.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (declared.content.size === 0) {
    if (answer.text !== '')
      problems.push(`${answer.status} declares no body but one came: ${answer.text.slice(0, 200)}`);
  } else {
    const schema = declared.content.get(mediaType);
    if (!schema) {
      problems.push(
        `${answer.status} came as '${mediaType}', declared: ${[...declared.content.keys()].join(', ')}`,
      );
    } else {
      let value: unknown = answer.text;
      if (mediaType === 'application/json') {
        try {
          value = JSON.parse(answer.text);
        } catch {
          problems.push(`${answer.status} body is not JSON: ${answer.text.slice(0, 200)}`);
        }
      }
      const validate = contract.validator(schema);
      if (!validate(value)) {
        problems.push(
          `${answer.status} body does not match the contract: ${contract.ajv.errorsText(validate.errors)}`,
        );
      }
      if (
        answer.status >= 400 &&
        mediaType === 'application/json' &&
        (value as { error?: unknown })?.error !== STATUS_CODES[answer.status]
      ) {
        problems.push(
          `${answer.status} error body's 'error' is not '${STATUS_CODES[answer.status]}'`,
        );
      }
    }
  }
  for (const [name, schema] of declared.headers) {
    const raw = answer.headers.get(name);
    if (raw === null) continue;
    const value = schema.type === 'integer' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
    const validate = contract.validator(schema);
    if (!validate(value))
      problems.push(`header ${name}: '${raw}' ${contract.ajv.errorsText(validate.errors)}`);
  }
  return problems;
}

let shared: Contract | undefined;

/**
 * For focused tests: reads a fetch Response to `operationId` and says what, if anything,
 * breaks the contract in it (see contractViolations).
 */
export async function checkAnswer(
  operationId: string,
  res: Response,
): Promise<{ answer: Answer; violations: string[] }> {
  shared ??= loadContract();
  const op = shared.operations.find((o) => o.operationId === operationId);
  if (!op) throw new Error(`no operation ${operationId} in the contract`);
  const answer = { status: res.status, headers: res.headers, text: await res.text() };
  return { answer, violations: contractViolations(shared, op, answer) };
}

/** Whether the contract's schema `name` (under components/schemas) accepts `value`. */
export function schemaAccepts(name: string, value: unknown): boolean {
  shared ??= loadContract();
  return shared.validator(shared.resolve(`#/components/schemas/${name}`))(value) === true;
}
