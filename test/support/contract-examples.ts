import type { ValidateFunction } from 'ajv/dist/2020.js';
import { CONTRACT_ID, createContractAjv, operationsOf, resolveRef } from './contract.js';

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

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isRef = (value: unknown): boolean => isObject(value) && typeof value.$ref === 'string';
const escape = (segment: string | number) =>
  String(segment).replaceAll('~', '~0').replaceAll('/', '~1');
const pointerOf = (path: (string | number)[]) =>
  `#${path.map((segment) => `/${escape(segment)}`).join('')}`;

const resolve = (doc: Json, node: unknown): unknown => resolveRef(doc, node);

/**
 * Validates every example in an OpenAPI 3.1 document against its schema with JSON Schema
 * draft 2020-12 (ajv, strict, with formats), resolving `$ref`s within the document:
 * schema `examples`/`example`, media type, parameter and header `example`/`examples`
 * (named examples may themselves be `$ref`s to components/examples). A schema that does
 * not compile in strict mode (an unknown keyword, say) is a problem too.
 */
export function checkExamples(document: Json): ExamplesReport {
  const ajv = createContractAjv(document);

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

  const parameters = (list: unknown, at: (string | number)[]) => {
    if (Array.isArray(list))
      list.forEach((parameter, i) => walkParameterOrHeader('parameter', parameter, [...at, 'parameters', i]));
  };
  const operations = operationsOf(document);
  const paths = isObject(document.paths) ? document.paths : {};
  for (const [route, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    parameters(item.parameters, ['paths', route]);
    for (const { method, operation } of operations.filter((o) => o.route === route)) {
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
