import { Converter } from '@apiture/openapi-down-convert';

/** A parsed OpenAPI document, or any schema or part of one. */
export type Node = Record<string, unknown>;

const SCHEMA_REF = '#/components/schemas/';
/** What makes a named schema a model of its own: members, a composition or a set of values. */
const MODEL_KEYWORDS = ['properties', 'allOf', 'anyOf', 'oneOf', 'enum'];

/** Keywords OpenAPI 3.0's schema dialect does not have: a generator would ignore them. */
const NOT_IN_30 = [
  'const',
  'examples',
  '$defs',
  '$id',
  '$schema',
  '$anchor',
  '$comment',
  'prefixItems',
  'contains',
  'minContains',
  'maxContains',
  'unevaluatedItems',
  'unevaluatedProperties',
  'dependentRequired',
  'dependentSchemas',
  'patternProperties',
  'propertyNames',
  'if',
  'then',
  'else',
  'contentMediaType',
  'contentEncoding',
];

const isObject = (value: unknown): value is Node =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

type Visit = (schema: Node, at: string) => void;

/** Calls `visit` on a schema and every schema inside it, parents before children. */
export function walkSchema(schema: unknown, at: string, visit: Visit): void {
  if (!isObject(schema)) return;
  visit(schema, at);
  for (const key of ['properties', 'patternProperties', '$defs', 'dependentSchemas']) {
    const members = schema[key];
    if (isObject(members))
      for (const [name, sub] of Object.entries(members))
        walkSchema(sub, `${at}.${key}.${name}`, visit);
  }
  for (const key of [
    'items',
    'additionalProperties',
    'not',
    'if',
    'then',
    'else',
    'contains',
    'propertyNames',
    'unevaluatedItems',
    'unevaluatedProperties',
  ]) {
    walkSchema(schema[key], `${at}.${key}`, visit);
  }
  for (const key of ['allOf', 'anyOf', 'oneOf', 'prefixItems']) {
    const list = schema[key];
    if (Array.isArray(list)) list.forEach((sub, i) => walkSchema(sub, `${at}.${key}[${i}]`, visit));
  }
}

/**
 * Calls `visit` on every schema of the document, parents before children, with a
 * readable location. `visit` may change the schema in place.
 */
export function forEachSchema(document: Node, visit: Visit): void {
  // Outside components/schemas a schema sits under a `schema` member; example values are data.
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) node.forEach((item, i) => walk(item, `${at}[${i}]`));
    if (!isObject(node)) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'example' || key === 'examples') continue;
      if (key === 'schema') walkSchema(value, `${at}.schema`, visit);
      else if (at === 'components' && key === 'schemas' && isObject(value)) {
        for (const [name, schema] of Object.entries(value))
          walkSchema(schema, `components.schemas.${name}`, visit);
      } else walk(value, at ? `${at}.${key}` : key);
    }
  };
  walk(document, '');
}

/** A named schema that is not a model: a string, number, array, map … */
const isAlias = (schema: unknown): boolean =>
  isObject(schema) && !('$ref' in schema) && !MODEL_KEYWORDS.some((key) => key in schema);

/**
 * Replaces each reference to a named schema that is not a model (`Id`, `Username`,
 * `Timestamp`, an array or a map …) with the schema itself, keeping the referrer's own
 * keywords (its `description`), and drops those names. Same meaning, but swagger-codegen
 * stops making an empty class for each (it does for Swift scalars and Kotlin arrays and
 * maps), and the descriptions beside `$ref`s, which OpenAPI 3.0 ignores, survive.
 */
export function inlineAliases(document: Node): string[] {
  const schemas = (document.components as Node | undefined)?.schemas as Node | undefined;
  if (!schemas) return [];
  const aliases = Object.keys(schemas).filter((name) => isAlias(schemas[name]));
  const expanded = new Map<string, Node>();
  const replace = (schema: Node, trail: string[]): void => {
    const ref = typeof schema.$ref === 'string' ? schema.$ref : '';
    const name = ref.slice(SCHEMA_REF.length);
    if (!ref.startsWith(SCHEMA_REF) || !aliases.includes(name)) return;
    // Expanded before this schema is emptied: it may be inside the alias itself.
    const replacement = structuredClone(expand(name, trail));
    const own = Object.entries(schema).filter(([key]) => key !== '$ref');
    for (const key of Object.keys(schema)) Reflect.deleteProperty(schema, key);
    Object.assign(schema, replacement, Object.fromEntries(own));
  };
  // An alias's own references to aliases are replaced first, once.
  const expand = (name: string, trail: string[]): Node => {
    if (trail.includes(name))
      throw new Error(`the schema ${[...trail, name].join(' → ')} refers to itself`);
    let schema = expanded.get(name);
    if (!schema) {
      schema = structuredClone(schemas[name]) as Node;
      walkSchema(schema, name, (sub) => replace(sub, [...trail, name]));
      expanded.set(name, schema);
    }
    return schema;
  };
  forEachSchema(document, (schema) => replace(schema, []));
  for (const name of aliases) Reflect.deleteProperty(schemas, name);
  return aliases;
}

/**
 * Down-converts an OpenAPI 3.1 document to 3.0.3 for tools that read only 3.0:
 * `@apiture/openapi-down-convert` does most of it (`type: [x, 'null']` → `nullable`,
 * `examples` → `example`, `$ref` siblings); this adds what it misses, and throws, naming
 * each place, when something would be silently lost.
 */
export function toOpenApi30(source: Node): Node {
  const document = structuredClone(source);
  const lost: string[] = [];
  inlineAliases(document);
  forEachSchema(document, (schema, at) => {
    // The converter skips a falsy `const` (0, false, '').
    if ('const' in schema) {
      schema.enum = [schema.const];
      delete schema.const;
    }
    for (const bound of ['Minimum', 'Maximum'] as const) {
      const exclusive = schema[`exclusive${bound}`];
      if (typeof exclusive === 'number') {
        schema[bound.toLowerCase()] = exclusive;
        schema[`exclusive${bound}`] = true;
      }
    }
    // OpenAPI 3.0 ignores everything beside a `$ref`; the converter drops it.
    if (typeof schema.$ref === 'string') {
      const siblings = Object.keys(schema).filter(
        (key) => !['$ref', 'description', 'summary'].includes(key),
      );
      if (siblings.length > 0) lost.push(`${at}: ${siblings.join(', ')} beside $ref`);
    }
  });
  if (lost.length > 0)
    throw new Error(`cannot down-convert without losing meaning:\n  ${lost.join('\n  ')}`);

  // Through JSON: the converter leaves its marker property on arrays (`enum`, `required`).
  const converted = JSON.parse(
    JSON.stringify(new Converter(document, { allOfTransform: false }).convert()),
  ) as Node;
  const info = converted.info as Node;
  if (typeof info.summary === 'string') {
    const description = typeof info.description === 'string' ? info.description : '';
    if (!description.startsWith(info.summary))
      info.description = `${info.summary}\n\n${description}`.trimEnd();
    delete info.summary;
  }
  const leftovers = leftovers31(converted);
  if (leftovers.length > 0)
    throw new Error(`OpenAPI 3.1 left after down-conversion:\n  ${leftovers.join('\n  ')}`);
  return converted;
}

/** Where a document still uses what OpenAPI 3.0 does not have. */
export function leftovers31(document: Node): string[] {
  const found: string[] = [];
  if (document.openapi !== '3.0.3') found.push(`openapi: ${String(document.openapi)}`);
  const info = document.info as Node | undefined;
  if (info && 'summary' in info) found.push('info.summary');
  if (isObject(info?.license) && 'identifier' in info.license)
    found.push('info.license.identifier');
  for (const key of ['webhooks', 'jsonSchemaDialect']) if (key in document) found.push(key);
  if (isObject(document.components) && 'pathItems' in document.components)
    found.push('components.pathItems');
  if (JSON.stringify(document).includes('x-openapi-down-convert'))
    found.push("the converter's markers");
  forEachSchema(document, (schema, at) => {
    if (Array.isArray(schema.type)) found.push(`${at}.type: [${schema.type.join(', ')}]`);
    for (const key of NOT_IN_30) if (key in schema) found.push(`${at}.${key}`);
    for (const key of ['exclusiveMinimum', 'exclusiveMaximum']) {
      if (key in schema && typeof schema[key] !== 'boolean')
        found.push(`${at}.${key}: ${String(schema[key])}`);
    }
    if ('$ref' in schema && Object.keys(schema).length > 1)
      found.push(`${at}: keywords beside $ref`);
  });
  return found;
}

/**
 * What swagger-codegen 3 needs beyond a faithful 3.0 document: it ignores `nullable`
 * on required members, so a Swift or Kotlin model would declare `about_me` non-optional
 * and fail to decode every `null`. Such members become optional (a client cannot tell
 * "absent" from "null" anyway). Returns `Schema.member` for each.
 */
export function relaxRequiredNullables(document: Node): string[] {
  const schemas = ((document.components as Node | undefined)?.schemas ?? {}) as Node;
  const nullable = (schema: unknown): boolean => {
    if (!isObject(schema)) return false;
    if (schema.nullable === true) return true;
    const ref = schema.$ref;
    return (
      typeof ref === 'string' &&
      ref.startsWith(SCHEMA_REF) &&
      nullable(schemas[ref.slice(SCHEMA_REF.length)])
    );
  };
  const relaxed: string[] = [];
  forEachSchema(document, (schema, at) => {
    if (!Array.isArray(schema.required) || !isObject(schema.properties)) return;
    const properties = schema.properties;
    const keep = schema.required.filter((name) => !nullable(properties[name as string]));
    for (const name of schema.required)
      if (!keep.includes(name))
        relaxed.push(`${at.replace(/^components\.schemas\./, '')}.${name as string}`);
    if (keep.length > 0) schema.required = keep;
    else delete schema.required;
  });
  return relaxed;
}
