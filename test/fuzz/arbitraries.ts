import fc from 'fast-check';
import type { Contract, Schema } from '../support/contract.js';

/**
 * JSON Schema → fast-check arbitraries, for the small part of JSON Schema the contract uses.
 *
 * Written rather than json-schema-faker seeded from fast-check because fast-check then owns
 * every choice: a failure shrinks to a small request and replays from one seed, where a
 * faker behind a seed shrinks only the seed. Strings reach past ASCII (emoji, RTL marks,
 * combining marks, NUL) where json-schema-faker's stay in Latin letters. Lone surrogates are
 * no text (a body holding one is refused): the fuzzer sends them as faults.
 * A keyword the converter does not know throws, so the contract cannot outgrow it unseen.
 */

const ANNOTATIONS = new Set([
  'description',
  'examples',
  'example',
  'default',
  'title',
  'readOnly',
  'writeOnly',
  'deprecated',
]);
const KNOWN = new Set([
  ...ANNOTATIONS,
  '$ref',
  'type',
  'enum',
  'const',
  'format',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
]);

/** Where a value travels: header values and query strings are limited to what HTTP carries. */
export type Place = 'body' | 'query' | 'header' | 'path';

/** Characters that break careless code: NUL, bidi controls, combining and joining marks … */
export const TRICKY_CHARACTERS = [
  '\0',
  '\u202e', // right-to-left override
  '\u200f', // right-to-left mark
  'שלום',
  'مرحبا',
  '\u0301', // combining acute accent
  'e\u0301',
  '\u200d', // zero-width joiner
  '👩‍👩‍👧‍👦',
  '🏳️‍🌈',
  '😀',
  '\ufeff',
  '\u2028',
  '\u00a0',
  '\u{10ffff}',
  '\ufffd',
  '日本語',
  'ß',
  '"',
  '\\',
  '<',
  "'",
  '%00',
  '\t',
  '\n',
  ' ',
];

const codePoints = (s: string) => Array.from(s).length;
const truncate = (s: string, max: number) =>
  codePoints(s) > max ? Array.from(s).slice(0, max).join('') : s;

/** Text of any kind: mostly printable ASCII, some of all of Unicode, some tricky characters. */
export function text(minLength = 0, maxLength = 200): fc.Arbitrary<string> {
  const unit = fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 })
        .filter((c) => c >= ' ' && c <= '~'),
    },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    { weight: 2, arbitrary: fc.constantFrom(...TRICKY_CHARACTERS) },
  );
  return fc
    .array(unit, {
      minLength,
      maxLength: Math.max(minLength, Math.min(maxLength, minLength + 200)),
    })
    .map((units) => truncate(units.join(''), maxLength))
    .filter((s) => codePoints(s) >= minLength);
}

/** What a header value or query parameter can carry: visible ASCII, no surrounding space. */
export function headerText(minLength = 1, maxLength = 64): fc.Arbitrary<string> {
  return fc
    .string({ unit: 'binary-ascii', minLength, maxLength })
    .filter(
      (s) => /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(s) || (minLength === 0 && s === ''),
    );
}

/** Builds arbitraries for schemas of one contract. */
export class SchemaArbitraries {
  constructor(private readonly contract: Contract) {}

  /** Values that the schema accepts, checked against the contract (a converter bug throws). */
  valid(schema: Schema, place: Place = 'body'): fc.Arbitrary<unknown> {
    const validate = this.contract.validator(schema);
    return this.build(schema, place).map((value) => {
      if (!validate(value)) {
        throw new Error(
          `fuzz generator bug: ${JSON.stringify(value)} fails its own schema: ${this.contract.ajv.errorsText(validate.errors)}`,
        );
      }
      return value;
    });
  }

  /** Values that the schema refuses: wrong types, out of bounds, bad formats and patterns. */
  invalid(schema: Schema): fc.Arbitrary<unknown> {
    const s = this.deref(schema);
    const validate = this.contract.validator(schema);
    const candidates: unknown[] = [...WRONG_TYPES];
    const types = typesOf(s);
    if (types.includes('string')) {
      const min = num(s.minLength) ?? 0;
      const max = num(s.maxLength);
      if (min > 0) candidates.push('', 'x'.repeat(min - 1));
      if (max !== undefined)
        candidates.push(
          'x'.repeat(max + 1),
          '😀'.repeat(max + 1),
          'e\u0301'.repeat(Math.ceil((max + 1) / 2)),
        );
      if (s.pattern !== undefined)
        candidates.push(...TRICKY_CHARACTERS, 'a b', ' ', 'a\nb', '<script>', '../..', 'x\0y');
      if (s.format === 'email')
        candidates.push(
          'plainaddress',
          '@example.com',
          'a@',
          'a@b',
          'a b@example.com',
          'me@日本.jp',
          `${'a'.repeat(120)}@example.com`,
        );
      if (s.format === 'date-time')
        candidates.push('yesterday', '2026-13-01T00:00:00Z', '2026-02-30T25:61:00Z', '');
    }
    if (types.includes('integer') || types.includes('number')) {
      const min = num(s.minimum);
      const max = num(s.maximum);
      if (min !== undefined) candidates.push(min - 1);
      if (max !== undefined) candidates.push(max + 1);
      candidates.push(0.5, -1, 2 ** 53, 2 ** 63, 1e308, -1e308);
    }
    const refused = candidates.filter((c) => !validate(c));
    if (refused.length === 0)
      throw new Error(`no invalid value known for ${JSON.stringify(schema)}`);
    return fc.constantFrom(...refused);
  }

  deref(schema: Schema): Schema {
    let s = schema;
    while (typeof s.$ref === 'string') {
      const siblings = Object.keys(s).filter((k) => k !== '$ref');
      const constraining = siblings.filter((k) => !ANNOTATIONS.has(k));
      if (constraining.length)
        throw new Error(
          `$ref with constraining siblings (${constraining.join(', ')}) is not supported`,
        );
      s = this.contract.resolve(s.$ref);
    }
    return s;
  }

  private build(schema: Schema, place: Place): fc.Arbitrary<unknown> {
    const s = this.deref(schema);
    for (const key of Object.keys(s)) {
      if (!KNOWN.has(key))
        throw new Error(`the fuzzer does not know the JSON Schema keyword '${key}' yet`);
    }
    if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
    if ('const' in s) return fc.constant(s.const);
    const types = typesOf(s);
    if (types.length > 1)
      return fc.oneof(...types.map((type) => this.build({ ...s, type }, place)));
    switch (types[0]) {
      case 'null':
        return fc.constant(null);
      case 'boolean':
        return fc.boolean();
      case 'integer':
        return this.integer(s);
      case 'number':
        return fc.double({
          min: num(s.minimum),
          max: num(s.maximum),
          noNaN: true,
          noDefaultInfinity: true,
        });
      case 'string':
        return this.string(s, place);
      case 'array':
        return fc.array(this.build((s.items ?? {}) as Schema, place), {
          minLength: num(s.minItems) ?? 0,
          maxLength: num(s.maxItems) ?? 5,
        });
      case 'object':
        return this.object(s, place);
      default:
        throw new Error(`the fuzzer cannot generate ${JSON.stringify(s)}`);
    }
  }

  private integer(s: Schema): fc.Arbitrary<number> {
    const [low, high] =
      s.format === 'int32'
        ? [-(2 ** 31), 2 ** 31 - 1]
        : [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
    const min = Math.max(num(s.minimum) ?? low, low);
    const max = Math.min(num(s.maximum) ?? high, high);
    // Small values are the ones that exist; the bounds are where off-by-ones live.
    return fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min, max: Math.min(max, min + 100) }) },
      { weight: 2, arbitrary: fc.integer({ min, max }) },
      { weight: 1, arbitrary: fc.constantFrom(min, max) },
    );
  }

  private string(s: Schema, place: Place): fc.Arbitrary<string> {
    const min = num(s.minLength) ?? 0;
    const max = num(s.maxLength) ?? (place === 'body' ? 300 : 64);
    const inRange = (v: string) => codePoints(v) >= min && codePoints(v) <= max;
    if (s.format === 'email') return fc.emailAddress().filter(inRange);
    if (s.format === 'date-time') {
      return fc
        .date({
          min: new Date('0001-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59Z'),
          noInvalidDate: true,
        })
        .map((d) => d.toISOString());
    }
    if (s.format === 'uri') return fc.webUrl();
    if (s.format !== undefined)
      throw new Error(`the fuzzer cannot generate strings of format '${String(s.format)}'`);
    const free = place === 'body' ? text(min, max) : headerText(Math.max(min, 1), max);
    if (typeof s.pattern !== 'string') return free;
    const pattern = new RegExp(s.pattern, 'u');
    const matching = fc.stringMatching(pattern).filter(inRange);
    // Mix in free text when enough of it matches (PostText does, Username does not), so
    // that patterns meet Unicode, not only the ASCII that stringMatching makes.
    const share =
      fc.sample(free, { seed: 1, numRuns: 200 }).filter((v) => pattern.test(v)).length / 200;
    return share >= 0.3
      ? fc.oneof(
          matching,
          free.filter((v) => pattern.test(v)),
        )
      : matching;
  }

  private object(s: Schema, place: Place): fc.Arbitrary<Record<string, unknown>> {
    const props = (s.properties ?? {}) as Record<string, Schema>;
    const required = (s.required ?? []) as string[];
    const record = fc.record(
      Object.fromEntries(Object.entries(props).map(([k, v]) => [k, this.build(v, place)])),
      { requiredKeys: required },
    ) as fc.Arbitrary<Record<string, unknown>>;
    const extra = s.additionalProperties;
    if (extra === undefined || extra === true || extra === false) return record;
    const keys = fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 12 })
      .filter((k) => !(k in props) && k !== '__proto__');
    return fc
      .tuple(record, fc.dictionary(keys, this.build(extra as Schema, place), { maxKeys: 3 }))
      .map(([declared, more]) => ({ ...more, ...declared }));
  }
}

/** A value of every JSON type, and the numbers that break integer handling. */
export const WRONG_TYPES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  2 ** 53,
  2 ** 63,
  1e308,
  '',
  'a string',
  '1',
  'NaN',
  'Infinity',
  '-0',
  [],
  [1, 'two'],
  {},
  { nested: { deeper: [null] } },
];

function typesOf(s: Schema): string[] {
  if (Array.isArray(s.type)) return s.type as string[];
  if (typeof s.type === 'string') return [s.type];
  if (s.properties) return ['object'];
  throw new Error(`the fuzzer needs a type in ${JSON.stringify(s)}`);
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}
