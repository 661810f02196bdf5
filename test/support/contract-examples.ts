import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';

/** Where an example sits: on a schema, a media type, a parameter or a header. */
export type ExampleKind = 'schema' | 'media type' | 'parameter' | 'header';

export interface CheckedExample {
  kind: ExampleKind;
  /** JSON pointer (with a leading #) to the example. */
  pointer: string;
  /** JSON pointer (with a leading #) to the schema it was checked against. */
  schema: string;
}

export interface ExampleProblem extends CheckedExample {
  message: string;
}

export interface ExamplesReport {
  checked: CheckedExample[];
  problems: ExampleProblem[];
}

type Json = Record<string, unknown>;

const CONTRACT_ID = 'urn:microblog:openapi';

// ajv-formats is CommonJS: TypeScript (NodeNext) types the default import as the module
// object, while a bundler may hand over the function itself.
type AddFormats = typeof formatsModule.default;
const addFormats: AddFormats =
  (formatsModule as { default?: AddFormats }).default ?? (formatsModule as unknown as AddFormats);

/** Keywords whose value is one schema, a list of schemas, or a map of names to schemas. */
const SUBSCHEMA = [
  'items',
  'additionalProperties',
  'unevaluatedItems',
  'unevaluatedProperties',
  'contains',
  'propertyNames',
  'not',
  'if',
  'then',
  'else',
];
const SUBSCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SUBSCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'dependentSchemas'];
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isRef = (value: unknown): boolean => isObject(value) && typeof value.$ref === 'string';
const escape = (segment: string | number) =>
  String(segment).replaceAll('~', '~0').replaceAll('/', '~1');
const pointerOf = (path: (string | number)[]) =>
  `#${path.map((segment) => `/${escape(segment)}`).join('')}`;

/** Resolves a local `$ref` (`#/...`) within the document. */
function resolve(doc: Json, node: unknown): unknown {
  const seen = new Set<string>();
  while (isRef(node)) {
    const ref = (node as Json).$ref as string;
    if (!ref.startsWith('#/') || seen.has(ref)) throw new Error(`cannot resolve ${ref}`);
    seen.add(ref);
    node = ref
      .slice(2)
      .split('/')
      .map((segment) => decodeURIComponent(segment).replaceAll('~1', '/').replaceAll('~0', '~'))
      .reduce<unknown>(
        (at, segment) => (isObject(at) || Array.isArray(at) ? (at as Json)[segment] : undefined),
        doc,
      );
  }
  return node;
}

/**
 * Validates every example in an OpenAPI 3.1 document against its schema with JSON Schema
 * draft 2020-12 (ajv, strict, with formats), resolving `$ref`s within the document:
 * schema `examples`/`example`, media type, parameter and header `example`/`examples`
 * (named examples may themselves be `$ref`s to components/examples). A schema that does
 * not compile in strict mode (an unknown keyword, say) is a problem too.
 */
export function checkExamples(document: Json): ExamplesReport {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats(ajv);
  // OpenAPI's own schema keywords, and the document's top-level fields: the document is
  // registered whole, so that its `#/components/...` references resolve.
  ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
  ajv.addVocabulary([
    'openapi',
    'info',
    'jsonSchemaDialect',
    'servers',
    'paths',
    'webhooks',
    'components',
    'security',
    'tags',
  ]);
  ajv.addSchema(document, CONTRACT_ID);

  const report: ExamplesReport = { checked: [], problems: [] };
  const validators = new Map<string, ValidateFunction | Error>();

  function validatorFor(schemaPointer: string): ValidateFunction | Error {
    let validator = validators.get(schemaPointer);
    if (!validator) {
      const fragment = schemaPointer.slice(1).split('/').map(encodeURIComponent).join('/');
      try {
        validator = ajv.getSchema(`${CONTRACT_ID}#${fragment}`) ?? new Error('no schema there');
      } catch (error) {
        validator = error as Error;
      }
      validators.set(schemaPointer, validator);
    }
    return validator;
  }

  function check(
    kind: ExampleKind,
    value: unknown,
    examplePath: (string | number)[],
    schemaPath: (string | number)[],
  ) {
    const example: CheckedExample = {
      kind,
      pointer: pointerOf(examplePath),
      schema: pointerOf(schemaPath),
    };
    report.checked.push(example);
    const validator = validatorFor(example.schema);
    if (validator instanceof Error) {
      report.problems.push({
        ...example,
        message: `the schema does not compile: ${validator.message}`,
      });
    } else if (!validator(value)) {
      report.problems.push({
        ...example,
        message: ajv.errorsText(validator.errors, { dataVar: 'example' }),
      });
    }
  }

  function walkSchema(schema: unknown, path: (string | number)[]) {
    if (!isObject(schema)) return;
    if (Array.isArray(schema.examples)) {
      schema.examples.forEach((value, i) => check('schema', value, [...path, 'examples', i], path));
    }
    if ('example' in schema) check('schema', schema.example, [...path, 'example'], path);
    for (const keyword of SUBSCHEMA) walkSchema(schema[keyword], [...path, keyword]);
    for (const keyword of SUBSCHEMA_LISTS) {
      const list = schema[keyword];
      if (Array.isArray(list))
        list.forEach((member, i) => walkSchema(member, [...path, keyword, i]));
    }
    for (const keyword of SUBSCHEMA_MAPS) {
      const map = schema[keyword];
      if (isObject(map))
        for (const [name, member] of Object.entries(map))
          walkSchema(member, [...path, keyword, name]);
    }
  }

  /** `example` and `examples` of a media type, parameter or header, against `schemaPath`. */
  function checkExamplesOf(
    kind: ExampleKind,
    node: Json,
    path: (string | number)[],
    schemaPath: (string | number)[],
  ) {
    if ('example' in node) check(kind, node.example, [...path, 'example'], schemaPath);
    if (isObject(node.examples)) {
      for (const [name, example] of Object.entries(node.examples)) {
        const resolved = resolve(document, example);
        if (isObject(resolved) && 'value' in resolved)
          check(kind, resolved.value, [...path, 'examples', name], schemaPath);
      }
    }
  }

  function walkContent(content: unknown, path: (string | number)[]) {
    if (!isObject(content)) return;
    for (const [mediaType, media] of Object.entries(content)) {
      if (!isObject(media)) continue;
      walkSchema(media.schema, [...path, mediaType, 'schema']);
      checkExamplesOf('media type', media, [...path, mediaType], [...path, mediaType, 'schema']);
    }
  }

  function walkParameterOrHeader(
    kind: 'parameter' | 'header',
    node: unknown,
    path: (string | number)[],
  ) {
    if (!isObject(node) || isRef(node)) return;
    walkSchema(node.schema, [...path, 'schema']);
    if (node.schema !== undefined) checkExamplesOf(kind, node, path, [...path, 'schema']);
    walkContent(node.content, [...path, 'content']);
  }

  function walkResponse(response: unknown, path: (string | number)[]) {
    if (!isObject(response) || isRef(response)) return;
    if (isObject(response.headers)) {
      for (const [name, header] of Object.entries(response.headers))
        walkParameterOrHeader('header', header, [...path, 'headers', name]);
    }
    walkContent(response.content, [...path, 'content']);
  }

  function walkRequestBody(body: unknown, path: (string | number)[]) {
    if (isObject(body) && !isRef(body)) walkContent(body.content, [...path, 'content']);
  }

  const components = isObject(document.components) ? document.components : {};
  const entries = (key: string) =>
    isObject(components[key]) ? Object.entries(components[key]) : [];
  for (const [name, schema] of entries('schemas'))
    walkSchema(schema, ['components', 'schemas', name]);
  for (const [name, parameter] of entries('parameters'))
    walkParameterOrHeader('parameter', parameter, ['components', 'parameters', name]);
  for (const [name, header] of entries('headers'))
    walkParameterOrHeader('header', header, ['components', 'headers', name]);
  for (const [name, response] of entries('responses'))
    walkResponse(response, ['components', 'responses', name]);
  for (const [name, body] of entries('requestBodies'))
    walkRequestBody(body, ['components', 'requestBodies', name]);

  const paths = isObject(document.paths) ? document.paths : {};
  for (const [route, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    const parameters = (list: unknown, at: (string | number)[]) => {
      if (Array.isArray(list))
        list.forEach((parameter, i) =>
          walkParameterOrHeader('parameter', parameter, [...at, 'parameters', i]),
        );
    };
    parameters(item.parameters, ['paths', route]);
    for (const method of METHODS) {
      const operation = item[method];
      if (!isObject(operation)) continue;
      const at = ['paths', route, method];
      parameters(operation.parameters, at);
      walkRequestBody(operation.requestBody, [...at, 'requestBody']);
      if (isObject(operation.responses)) {
        for (const [status, response] of Object.entries(operation.responses))
          walkResponse(response, [...at, 'responses', status]);
      }
    }
  }
  return report;
}

/** Every operation in the document, with where it is. */
export function operationsOf(document: Json): { method: string; route: string; operation: Json }[] {
  const paths = isObject(document.paths) ? document.paths : {};
  return Object.entries(paths).flatMap(([route, item]) =>
    METHODS.filter((method) => isObject(item) && isObject(item[method])).map((method) => ({
      method,
      route,
      operation: (item as Json)[method] as Json,
    })),
  );
}

/** The document with `$ref`s followed, for reading a response or parameter that may be a reference. */
export function resolveIn(document: Json, node: unknown): unknown {
  return resolve(document, node);
}
