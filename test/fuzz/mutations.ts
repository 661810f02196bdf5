import fc from 'fast-check';
import { WRONG_TYPES, type SchemaArbitraries } from './arbitraries.js';
import type { Parameter, Schema } from '../support/contract.js';
import { materialize, type Expectation, type Mutation } from './plans.js';
import type { OperationFacts } from './semantics.js';
import { describeBody, setRawBody, type PathRenderer, type WireRequest } from './wire.js';
import type { Account, World } from './world.js';

const BAD_INTEGERS = [
  'abc',
  '1.5',
  '-1',
  '0',
  '9007199254740992', // 2^53
  '9223372036854775808', // 2^63
  '99999999999999999999999999',
  '1e308',
  'NaN',
  'Infinity',
  '-Infinity',
  'null',
  'true',
  '1,2',
  '%20',
  '%00',
  '%E2%80%AE1', // RTL override, then 1
  encodeURIComponent('١٢٣'), // Arabic-Indic digits
  encodeURIComponent('😀'),
  '%ZZ',
  '0x10',
  '1e3',
  '1e0',
  '01',
  '1.0',
  '+1',
  '%201',
  '1%20',
];

/** Invalid requests: one mutation of a valid plan each, with the status its fault calls for. */
export function mutationsFor(arbs: SchemaArbitraries, facts: OperationFacts): fc.Arbitrary<Mutation>[] {
  const { pathParams, queryParams, headerParams, bearer, basic, owned, bodySchema } = facts;
  const mutations: fc.Arbitrary<Mutation>[] = [];
  if (bearer) {
    const bad: (string | null)[] = [
      null,
      '',
      'Bearer',
      'Bearer ',
      'truncated',
      'padded',
      'wrong scheme',
      'spaced',
      'revoked',
      'expired',
      'Token abc',
      'long',
      `Bearer ${Buffer.from('ключ🔑', 'utf8').toString('latin1')}`,
      'Bearer a b',
      'Bearer Zm9v=',
    ];
    mutations.push(
      fc.constantFrom(...bad).map((header) => ({ on: 'auth' as const, header, status: 401 })),
    );
    if (owned)
      mutations.push(
        fc.constant({ on: 'auth' as const, header: 'other user' as const, status: 403 }),
      );
  }
  if (basic) {
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    const bad = [
      null,
      '',
      'Basic',
      `Basic ${b64('no colon')}`,
      `Basic ${b64(':password')}`,
      `Basic ${b64('nobody-at-all:correct horse battery staple')}`,
      `Basic ${b64('nobody@example.com:x')}`,
      'Basic !!!not base64!!!',
      'Basic Zm9v',
      'long login',
      `Basic ${b64('ü\0ser:pässwörd')}`,
      `Basic ${b64('😀:😀')}`,
      'Bearer abc',
      `Digest ${b64('a:b')}`,
    ];
    mutations.push(
      fc.constantFrom(...bad).map((header) => ({ on: 'auth' as const, header, status: 401 })),
    );
    mutations.push(
      fc.constant({ on: 'auth' as const, header: 'wrong scheme' as const, status: 401 }),
    );
  }
  for (const p of pathParams)
    mutations.push(
      fc.constantFrom(...BAD_INTEGERS).map((raw) => ({ on: 'path' as const, name: p.name, raw })),
    );
  const queryValues = (p: Parameter): fc.Arbitrary<string> => {
    const s = arbs.deref(p.schema);
    if (s.type === 'integer')
      return fc.constantFrom(...BAD_INTEGERS, '', '2147483648').map((v) => `${p.name}=${v}`);
    return arbs
      .invalid(p.schema)
      .filter((v) => typeof v === 'string')
      .map((v) => `${p.name}=${percentEncode(v as string)}`);
  };
  mutations.push(
    fc
      .oneof(
        fc.constantFrom(
          'unknown=1',
          'PAGE=1',
          'page[]=1',
          '%00=1',
          `${encodeURIComponent('😀')}=1`,
          'a=%ZZ',
        ),
        ...queryParams.map(queryValues),
        ...queryParams.map((p) => fc.constant(`${p.name}=1&${p.name}=2`)),
      )
      .map((raw) => ({ on: 'query' as const, raw })),
  );
  mutations.push(
    fc
      .constantFrom(
        ...(facts.produces === 'text/event-stream'
          ? ['application/json', 'application/xml', 'text/html', 'text/plain', 'text/event-stream;q=0, application/json']
          : ['application/xml', 'text/html', 'image/png', 'text/plain', 'application/json;q=0, text/html']),
      )
      .map((value) => ({ on: 'header' as const, name: 'Accept', value, status: 406 })),
  );
  for (const p of headerParams) {
    if (p.name.toLowerCase() === 'if-match') {
      mutations.push(
        fc
          .constantFrom('"nope"', 'W/"weak"', '"', 'garbage')
          .map((value) => ({ on: 'header' as const, name: p.name, value, status: 412 })),
      );
    } else if (p.name.toLowerCase() !== 'if-none-match') {
      const values = arbs
        .invalid(p.schema)
        .filter((v): v is string => typeof v === 'string' && /^[\x20-\x7e]*$/.test(v));
      mutations.push(
        values.map((value) => ({ on: 'header' as const, name: p.name, value, status: 400 })),
      );
    }
  }
  if (bodySchema) {
    const props = (bodySchema.properties ?? {}) as Record<string, Schema>;
    const required = (bodySchema.required ?? []) as string[];
    const limited = Object.entries(props).filter(
      ([, s]) => typeof arbs.deref(s).maxLength === 'number',
    );
    mutations.push(
      fc
        .constantFrom(
          ...WRONG_TYPES.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
        )
        .map((value) => ({ on: 'body' as const, value })),
    );
    if (required.length)
      mutations.push(fc.constantFrom(...required).map((name) => ({ on: 'drop' as const, name })));
    mutations.push(
      fc.oneof(
        ...Object.entries(props).map(([name, s]) =>
          arbs.invalid(s).map((value) => ({ on: 'member' as const, name, value })),
        ),
      ),
    );
    if (bodySchema.additionalProperties === false) {
      mutations.push(
        fc
          .tuple(
            fc.constantFrom(
              'admin',
              'password_hash',
              '__proto__',
              'constructor',
              '',
              '😀',
              'ID',
              'Body',
              'user_id',
            ),
            fc.constantFrom(...WRONG_TYPES),
          )
          .filter(([name]) => !(name in props))
          .map(([name, value]) => ({ on: 'extra' as const, name, value })),
      );
    }
    if (limited.length) {
      // Just under the 64 KB limit: parsed, then refused by the schema.
      mutations.push(
        fc
          .constantFrom(...limited.map(([name]) => name))
          .map((name) => ({ on: 'member' as const, name, value: { repeat: '€', times: 20_000 } })),
      );
    }
    mutations.push(
      fc.constantFrom(
        { on: 'raw' as const, body: '{', status: 400 },
        { on: 'raw' as const, body: '{"body": "x",}', status: 400 },
        { on: 'raw' as const, body: "{'body': 'x'}", status: 400 },
        { on: 'raw' as const, body: '{"a": NaN}', status: 400 },
        { on: 'raw' as const, body: '{"a": 1}garbage', status: 400 },
        { on: 'raw' as const, body: '', status: 400 },
        { on: 'raw' as const, body: 'null', status: 400 },
        { on: 'raw' as const, body: '"just a string"', status: 400 },
        { on: 'raw' as const, body: [0x7b, 0xff, 0xfe, 0x7d], status: 400 },
        { on: 'raw' as const, body: [0xc0, 0xaf], status: 400 },
        { on: 'raw' as const, body: '{"a": "\\ud800"}', status: 400 },
        { on: 'raw' as const, body: '{"a": 1, "a": 1}', status: 400 },
        { on: 'raw' as const, body: '{"a":1}', contentEncoding: 'gzip', status: 400 },
        { on: 'raw' as const, body: '{"a":1}', contentEncoding: 'x-unknown', status: 415 },
        {
          on: 'raw' as const,
          body: { before: '{"a": "', repeat: 'x', times: 70_000, after: '"}' },
          status: 413,
        },
        {
          on: 'raw' as const,
          body: { before: '[', repeat: '1,', times: 40_000, after: '1]' },
          status: 413,
        },
        { on: 'raw' as const, body: '{"a":1}', contentType: 'text/plain', status: 415 },
        {
          on: 'raw' as const,
          body: 'a=1&b=2',
          contentType: 'application/x-www-form-urlencoded',
          status: 415,
        },
        {
          on: 'raw' as const,
          body: '--x\r\n\r\n--x--',
          contentType: 'multipart/form-data; boundary=x',
          status: 415,
        },
        { on: 'raw' as const, body: '<a/>', contentType: 'application/xml', status: 415 },
        {
          on: 'raw' as const,
          body: '{"a":1}',
          contentType: 'application/json; charset=latin1',
          status: 415,
        },
        { on: 'raw' as const, body: '{"a":1}', contentType: null, status: 415 },
        {
          on: 'raw' as const,
          body: '{"a":1}',
          contentType: 'application/json; charset=utf-16le',
          status: 415,
        },
      ),
    );
  }
  return mutations;
}

/** Applies a mutation to a bound request, and says what the answer must be. */
export async function applyMutation(
  world: World,
  req: WireRequest,
  m: Mutation,
  {
    actor,
    token,
    actors,
    renderPath,
  }: { actor: Account; token: string; actors: Account[]; renderPath: PathRenderer },
): Promise<Expectation> {
  switch (m.on) {
    case 'auth': {
      const other = actors.find((a) => a.id !== actor.id) as Account;
      const headers: Record<string, string | null> = {
        revoked: `Bearer ${world.revokedToken}`,
        expired: `Bearer ${world.expiredToken}`,
        'other user': `Bearer ${other.token}`,
        truncated: `Bearer ${token.slice(0, -2)}`,
        padded: `Bearer ${token}x`,
        spaced: `Bearer ${token} ${token}`,
        'wrong scheme': req.headers.Authorization?.startsWith('Basic')
          ? `Bearer ${actor.token}`
          : world.basicAuth(actor),
        long: `Bearer ${'A'.repeat(8000)}`,
        'long login': `Basic ${Buffer.from(`${'x'.repeat(3000)}:y`).toString('base64')}`,
      };
      const value = m.header !== null && m.header in headers ? headers[m.header] : m.header;
      if (value === null || value === undefined) delete req.headers.Authorization;
      else req.headers.Authorization = value;
      return {
        kind: 'invalid',
        status: m.status,
        why: `Authorization: ${m.header === null ? '(none)' : m.header.slice(0, 40)}`,
      };
    }
    case 'path':
      req.path = renderPath({ [m.name]: m.raw });
      return { kind: 'invalid', status: 400, why: `path parameter ${m.name}=${m.raw}` };
    case 'query':
      req.query.push(m.raw);
      return { kind: 'invalid', status: 400, why: `query ${m.raw.slice(0, 60)}` };
    case 'header':
      req.headers[m.name] = m.value;
      return { kind: 'invalid', status: m.status, why: `${m.name}: ${m.value.slice(0, 60)}` };
    case 'body':
      req.headers['Content-Type'] = 'application/json';
      req.body = JSON.stringify(m.value);
      return { kind: 'invalid', status: 400, why: `the body ${JSON.stringify(m.value)}` };
    case 'member':
    case 'drop':
    case 'extra': {
      const body = JSON.parse(req.body as string) as Record<string, unknown>;
      let json: string;
      if (m.on === 'drop') {
        json = JSON.stringify(
          Object.fromEntries(Object.entries(body).filter(([name]) => name !== m.name)),
        );
      } else if (m.on === 'extra' && m.name === '__proto__') {
        // JSON.stringify cannot write an own __proto__ member; JSON.parse on the server makes one.
        json = JSON.stringify(body).replace(
          /^\{/,
          `{"__proto__": ${JSON.stringify(m.value)}${Object.keys(body).length ? ',' : ''}`,
        );
      } else {
        body[m.name] = materialize(m.value);
        json = JSON.stringify(body);
      }
      req.body = json;
      const shown = m.on === 'drop' ? '' : `=${JSON.stringify(m.value)?.slice(0, 40)}`;
      return { kind: 'invalid', status: 400, why: `body member ${m.on} ${m.name}${shown}` };
    }
    case 'raw':
      setRawBody(req, m.body, m.contentType);
      if (m.contentEncoding) req.headers['Content-Encoding'] = m.contentEncoding;
      return {
        kind: 'invalid',
        status: m.status,
        why: `raw body ${describeBody(req.body)} (${m.contentType === undefined ? 'application/json' : String(m.contentType)})`,
      };
  }
}

/** encodeURIComponent of the UTF-8 bytes, which (unlike encodeURIComponent) takes lone surrogates too. */
function percentEncode(s: string): string {
  return [...Buffer.from(s, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}
