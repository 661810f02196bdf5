import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import path from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { parse } from 'yaml';
import { projectRoot } from '../../src/paths.js';

/**
 * The one walker of openapi.yaml for the tests, the fuzzer and the SDK checks: it reads the
 * contract, sets up Ajv (createContractAjv), resolves `$ref`s (resolveRef) and lists the
 * operations (operationsOf, and loadContract's fuller model for the fuzzer).
 */

type Json = Record<string, unknown>;

// ajv-formats is CommonJS: TypeScript (NodeNext) types the default import as the module
// object, while a bundler may hand over the function itself.
type AddFormats = typeof formatsModule.default;
const addFormats: AddFormats =
  (formatsModule as { default?: AddFormats }).default ?? (formatsModule as unknown as AddFormats);

/** The id the whole document is registered under, so that `#/components/…` references resolve. */
export const CONTRACT_ID = 'urn:microblog:openapi';

/** openapi.yaml as written, parsed afresh (not through the app's loader). */
export function readContractDocument(): Json {
  return parse(readFileSync(path.join(projectRoot, 'openapi.yaml'), 'utf8')) as Json;
}

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isRef = (value: unknown): value is { $ref: string } => isObject(value) && typeof value.$ref === 'string';

/** Follows local `$ref`s (`#/...`) within `document` until a node that is not one. */
export function resolveRef<T = unknown>(document: unknown, node: unknown): T {
  const seen = new Set<string>();
  while (isRef(node)) {
    const ref = node.$ref;
    if (!ref.startsWith('#/')) throw new Error(`only local references are supported: ${ref}`);
    if (seen.has(ref)) throw new Error(`cannot resolve ${ref}: it refers to itself`);
    seen.add(ref);
    node = ref
      .slice(2)
      .split('/')
      .map((segment) => decodeURIComponent(segment).replaceAll('~1', '/').replaceAll('~0', '~'))
      .reduce<unknown>((at, segment) => (isObject(at) || Array.isArray(at) ? (at as Json)[segment] : undefined), document);
    if (node === undefined) throw new Error(`unresolved reference ${ref}`);
  }
  return node as T;
}

/**
 * The one Ajv set-up for the contract: JSON Schema 2020-12, strict, all errors, ajv-formats'
 * full formats, with OpenAPI's `int32`/`int64` and `email` as the server has them; `document`
 * is registered whole under CONTRACT_ID.
 */
export function createContractAjv(document: Json): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, strictTuples: false });
  // OpenAPI's own schema keywords, and the document's top-level fields.
  ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
  ajv.addVocabulary(['openapi', 'info', 'jsonSchemaDialect', 'servers', 'paths', 'webhooks', 'components', 'security', 'tags']);
  addFormats(ajv);
  // `format: email` as RFC 5321 has it, and Schemathesis checks it: ajv-formats' regex
  // forgets the limit of 64 characters before the `@`.
  const ajvEmail = fullFormats.email as RegExp;
  ajv.addFormat('email', (value: string) => ajvEmail.test(value) && value.indexOf('@') <= 64);
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
  });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addSchema(document, CONTRACT_ID);
  return ajv;
}

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

/** An operation where the document has it, before the fuzzer's model of it (loadContract). */
export interface OperationEntry {
  /** Lower case: get, put, post … */
  method: string;
  /** The path template, such as /api/users/{id}. */
  route: string;
  /** The path item the operation is in (its shared parameters). */
  item: Json;
  operation: Json;
  operationId: string;
  /** The security scheme names it takes (its own, else the document's), [] when public. */
  security: string[];
}

/** Every operation in `document`, in the order of its paths and of HTTP_METHODS. */
export function operationsOf(document: Json): OperationEntry[] {
  const paths = isObject(document.paths) ? document.paths : {};
  const globalSecurity = (document.security ?? []) as Json[];
  return Object.entries(paths).flatMap(([route, item]) =>
    isObject(item)
      ? HTTP_METHODS.filter((method) => isObject(item[method])).map((method) => {
          const operation = item[method] as Json;
          const security = ((operation.security ?? globalSecurity) as Json[]).flatMap((s) => Object.keys(s));
          return { method, route, item, operation, operationId: String(operation.operationId), security };
        })
      : [],
  );
}

/**
 * The fuzzer's model of the contract: openapi.yaml read from disk on its own (not through
 * the app's loader) unless `document` is given, so that the fuzzer checks the server against
 * the contract as written.
 */
export function loadContract(document: Schema = readContractDocument()): Contract {
  const resolve = <T = Schema>(ref: string): T => resolveRef<T>(document, { $ref: ref });
  const deref = <T>(node: T | { $ref: string }): T => resolveRef<T>(document, node);

  // The document goes in as it is, under an id, so that every '#/components/…' reference
  // inside a schema resolves against it; an operation's schema is compiled rebased onto it.
  const ajv = createContractAjv(document);

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
  for (const { method, route: template, item, operation: op, operationId, security } of operationsOf(document)) {
    const shared = (item.parameters ?? []) as unknown[];
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
    operations.push({
      operationId,
      method: method.toUpperCase(),
      path: template,
      parameters: [...parameters.values()],
      body: jsonBody
        ? { schema: jsonBody.schema, required: requestBody?.required === true }
        : undefined,
      security,
      responses,
    });
  }
  return { document, operations, resolve, ajv, validator };
}

/** Local references of a schema point into the document added under CONTRACT_ID. */
function rebase(schema: Schema): Schema {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) =>
    key === '$ref' && typeof value === 'string' && value.startsWith('#/')
      ? `${CONTRACT_ID}${value}`
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
