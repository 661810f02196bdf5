import { createHash } from 'node:crypto';
import http from 'node:http';
import fc from 'fast-check';
import { encodeCursor, MAX_PAGE_DEPTH, MAX_PER_PAGE } from '../../src/http/pagination.js';
import { headerText, SchemaArbitraries, WRONG_TYPES } from './arbitraries.js';
import {
  contractViolations,
  type Answer,
  type Contract,
  type Operation,
  type Parameter,
  type Schema,
} from '../support/contract.js';
import type { Account, ResourceKind, World } from './world.js';

/**
 * What the contract cannot say about an operation, written down once: who may call it
 * (which path parameter must be the caller, or name a post of the caller's), and what
 * a valid request needs beyond its schemas. Every operation that declares a 403 must say
 * who may call it here, so a new one is not fuzzed on guesswork.
 */
interface Semantics {
  /** The path parameter that must be the caller's own user id. */
  self?: string;
  /** The path parameter that must be a post the caller wrote. */
  author?: string;
  /** The request uses up its token (so it gets a fresh one). */
  spendsToken?: boolean;
  /** Makes a generated body semantically valid: a password change needs the present password. */
  completeBody?: (body: Record<string, unknown>, actor: Account) => Record<string, unknown>;
  /** Brings about a state in which the request succeeds (when `arrange` was drawn); may change the path's ids. */
  arrange?: (
    world: World,
    actor: Account,
    path: Record<string, number>,
  ) => Promise<Record<string, number>>;
}

const SEMANTICS: Record<string, Semantics> = {
  updateUser: {
    self: 'id',
    completeBody: (body, actor) =>
      'password' in body ? { ...body, current_password: actor.password } : body,
  },
  followUser: { self: 'id' },
  unfollowUser: { self: 'id' },
  getFeed: { self: 'id' },
  updatePost: { author: 'id' },
  deletePost: { author: 'id' },
  revokeToken: { spendsToken: true },
  getFollow: {
    // Drawn ids rarely follow each other; make them, so that 204 is seen as well as 404.
    arrange: async (world, actor, path) => {
      const follower =
        world.accounts.find((a) => a.id === path.id && a.token !== undefined) ?? actor;
      const target =
        path.target_id !== follower.id
          ? (path.target_id as number)
          : world.accounts.find((a) => a.id !== follower.id)?.id;
      if (target === undefined || !(await world.exists('user', target))) return path;
      await world.follow(follower, target);
      return { ...path, id: follower.id, target_id: target };
    },
  },
};

/** Where real values of a path parameter come from, by its name under components/parameters. */
const PARAMETER_KINDS: Record<string, ResourceKind> = {
  UserId: 'user',
  TargetId: 'user',
  PostId: 'post',
};

/** A request as it goes on the wire. */
export interface WireRequest {
  method: string;
  path: string;
  query: string[];
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

type PathRenderer = (raw?: Record<string, string>) => string;

/**
 * What an answer must be. `valid`: a 2xx or 3xx, or one of the few refusals the semantics
 * require (each checked against the database). `invalid`: exactly `status`, a JSON error.
 * `edge`: well-formed but outside what the contract promises; any declared non-5xx answer.
 */
export type Expectation =
  | { kind: 'valid' }
  | { kind: 'invalid'; status: number; why: string }
  | { kind: 'edge'; why: string };

// ——— Plans: pure data that fast-check generates and shrinks, bound to live state when run ———

type PathChoice = { existing: number } | { id: number };
type HeaderChoice = string | { echo: true } | { current: true } | undefined;

interface ValidPlan {
  actor: number;
  path: Record<string, PathChoice>;
  query: Record<string, unknown>;
  headers: Record<string, HeaderChoice>;
  body: unknown;
  /** Authorization for a public operation (garbage must be ignored there) or the bearer scheme's spelling. */
  authorization: string | undefined;
  loginBy: 'username' | 'email';
  loginCase: 'as is' | 'upper' | 'lower';
  contentType: string;
  accept: string | undefined;
  arrange: boolean;
}

type Mutation =
  | { on: 'auth'; header: string | null; status: number }
  | { on: 'path'; name: string; raw: string }
  | { on: 'query'; raw: string }
  | { on: 'header'; name: string; value: string; status: number }
  | { on: 'body'; value: unknown }
  | { on: 'member'; name: string; value: unknown | Repeat }
  | { on: 'drop'; name: string }
  | { on: 'extra'; name: string; value: unknown }
  | {
      on: 'raw';
      body: RawBody;
      contentType?: string | null;
      contentEncoding?: string;
      status: number;
    };

type Edge =
  | { on: 'cursor'; value: string }
  | { on: 'accept'; value: string }
  | { on: 'raw'; body: RawBody; contentType?: string };

/** A long string, kept short in fast-check's counterexamples. */
interface Repeat {
  repeat: string;
  times: number;
  before?: string;
  after?: string;
}
type RawBody = string | number[] | Repeat;

const isRepeat = (v: unknown): v is Repeat =>
  typeof v === 'object' && v !== null && 'repeat' in v && 'times' in v;
const materialize = (v: unknown): unknown =>
  isRepeat(v) ? `${v.before ?? ''}${v.repeat.repeat(v.times)}${v.after ?? ''}` : v;

export interface Fuzzer {
  operation: Operation;
  valid: fc.Arbitrary<ValidPlan>;
  invalid: fc.Arbitrary<{ plan: ValidPlan; mutation: Mutation }>;
  edge: fc.Arbitrary<{ plan: ValidPlan; edge: Edge }>;
  run(
    world: World,
    plan: ValidPlan,
    change?: { mutation?: Mutation; edge?: Edge },
  ): Promise<Outcome>;
}

export interface Outcome {
  status: number;
  /** Why a valid request was refused, when the semantics require it. */
  refusal?: string;
}

/** Refusals a valid request may get, each only when the database shows it is genuine. */
export const ALLOWED_REFUSALS = [
  '400: the username is taken (without regard to case)',
  '400: the email address is taken (without regard to case)',
  '400: a user cannot follow itself',
  '404: a resource named in the path does not exist',
  '404: the user does not follow the target (GET /users/{id}/followed/{target_id})',
  '422: the Idempotency-Key was used before with another body',
  '400: page × per_page above the depth served by number, without a cursor',
] as const;

/** Whether a list request asks for a page by number deeper than one is served. */
function pageTooDeep(query: string[]): boolean {
  const params = new URLSearchParams(query.join('&'));
  if (params.has('cursor')) return false;
  const perPage = Math.min(Number(params.get('per_page') ?? 10), MAX_PER_PAGE);
  return Number(params.get('page') ?? 1) * perPage > MAX_PAGE_DEPTH;
}

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

export function buildFuzzer(contract: Contract, op: Operation): Fuzzer {
  const arbs = new SchemaArbitraries(contract);
  const semantics = SEMANTICS[op.operationId] ?? {};
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const headerParams = op.parameters.filter((p) => p.in === 'header');
  const bearer = op.security.includes('bearer');
  const basic = op.security.includes('basic');
  const isPublic = op.security.length === 0;
  const owned = semantics.self ?? semantics.author;
  if (op.responses.has('403') !== (owned !== undefined)) {
    throw new Error(
      `${op.operationId}: declare in SEMANTICS who may call it (it declares 403: ${op.responses.has('403')})`,
    );
  }
  const kinds = new Map<string, ResourceKind>();
  for (const p of pathParams) {
    const kind = PARAMETER_KINDS[p.component ?? ''];
    if (!kind)
      throw new Error(
        `${op.operationId}: tell the fuzzer where real values of path parameter '${p.name}' come from`,
      );
    kinds.set(p.name, kind);
  }
  const bodySchema = op.body ? arbs.deref(op.body.schema) : undefined;
  const getOnSamePath = contract.operations.find((o) => o.path === op.path && o.method === 'GET');

  // ——— valid plans ———
  const pathChoice = (p: Parameter): fc.Arbitrary<PathChoice> =>
    fc.oneof(
      { weight: 8, arbitrary: fc.nat().map((existing) => ({ existing })) },
      { weight: 1, arbitrary: arbs.valid(p.schema, 'path').map((id) => ({ id: id as number })) },
    );
  const queryChoice = (p: Parameter): fc.Arbitrary<unknown> =>
    p.name === 'cursor'
      ? fc.option(fc.constant('from the server'), { nil: undefined })
      : fc.option(arbs.valid(p.schema, 'query'), { nil: undefined });
  const headerChoice = (p: Parameter): fc.Arbitrary<HeaderChoice> => {
    switch (p.name.toLowerCase()) {
      case 'if-none-match':
        return fc.oneof(
          fc.constant(undefined),
          fc.constant('*'),
          fc.constant({ echo: true } as const),
          headerText(1, 40).map((t) => `"${t.replace(/"/g, '')}"`),
        );
      case 'if-match':
        return fc.oneof(
          fc.constant(undefined),
          fc.constant('*'),
          fc.constant({ current: true } as const),
        );
      default:
        return fc.option(arbs.valid(p.schema, 'header') as fc.Arbitrary<string>, {
          nil: undefined,
        });
    }
  };
  const record = <T>(params: Parameter[], f: (p: Parameter) => fc.Arbitrary<T>) =>
    fc.record(Object.fromEntries(params.map((p) => [p.name, f(p)]))) as fc.Arbitrary<
      Record<string, T>
    >;

  const valid: fc.Arbitrary<ValidPlan> = fc.record({
    actor: fc.nat(),
    path: record(pathParams, pathChoice),
    query: record(queryParams, queryChoice),
    headers: record(headerParams, headerChoice),
    body: bodySchema ? arbs.valid(op.body?.schema as Schema, 'body') : fc.constant(undefined),
    authorization: isPublic
      ? fc.option(
          fc.oneof(
            fc.constantFrom('Bearer nonsense', 'Basic Zm9vOmJhcg==', 'Bearer', ''),
            headerText(1, 40),
          ),
          { nil: undefined },
        )
      : fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEaReR'),
    loginBy: fc.constantFrom('username', 'email'),
    loginCase: fc.constantFrom('as is', 'upper', 'lower'),
    contentType: fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json;charset=UTF-8',
      'Application/JSON',
    ),
    accept: fc.constantFrom(
      undefined,
      'application/json',
      '*/*',
      'application/*',
      'application/json, text/html;q=0.9',
      'text/html;q=0.5, application/json',
    ),
    arrange: fc.boolean(),
  });

  // ——— mutations: one per request, each with the status it must get ———
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
        'application/xml',
        'text/html',
        'image/png',
        'text/plain',
        'application/json;q=0, text/html',
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
  const invalid = fc.record({ plan: valid, mutation: fc.oneof(...mutations) });

  // ——— edges ———
  const edges: fc.Arbitrary<Edge>[] = [
    fc
      .constantFrom(
        '*/*;q=0.1, application/json;q=0.1',
        'application/json;q=0.5, text/html',
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
      )
      .map((value) => ({ on: 'accept' as const, value })),
  ];
  if (queryParams.some((p) => p.name === 'cursor')) {
    edges.push(
      // Cursors the server could have made, for any position. Schemathesis sends the
      // schema-shaped strings, which the server has not made (400).
      fc
        .record({
          ms: fc.integer({ min: 0, max: 999_999_999_999_999 }),
          id: fc.maxSafeInteger(),
        })
        .map(({ ms, id }) => ({ on: 'cursor' as const, value: encodeCursor({ created_at: new Date(ms), id }) })),
    );
  }
  if (!bodySchema) {
    edges.push(
      fc.constantFrom(
        { on: 'raw' as const, body: '{"unexpected": true}' },
        { on: 'raw' as const, body: '{' },
        { on: 'raw' as const, body: 'plain text', contentType: 'text/plain' },
        {
          on: 'raw' as const,
          body: { before: '{"a": "', repeat: 'x', times: 70_000, after: '"}' },
        },
      ),
    );
  } else {
    edges.push(
      fc.constantFrom(
        { on: 'raw' as const, body: '\ufeff{}' },
        {
          on: 'raw' as const,
          body: [0x7b, 0x22, 0x62, 0x6f, 0x64, 0x79, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d],
        }, // {"body":"\xff"}
        // UTF-8 bytes labelled UTF-16: body-parser decodes what the label says (400), where 415 would do as well.
        { on: 'raw' as const, body: '{"a":1}', contentType: 'application/json; charset=utf-16' },
      ),
    );
  }
  const edge = fc.record({ plan: valid, edge: fc.oneof(...edges) });

  // ——— running a plan ———
  async function run(
    world: World,
    plan: ValidPlan,
    change: { mutation?: Mutation; edge?: Edge } = {},
  ): Promise<Outcome> {
    const actors = world.actors();
    const actor = actors[plan.actor % actors.length] as Account;
    const path: Record<string, number> = {};
    for (const p of pathParams) {
      const kind = kinds.get(p.name) as ResourceKind;
      const choice = plan.path[p.name] as PathChoice;
      if (p.name === semantics.self) path[p.name] = actor.id;
      else if (p.name === semantics.author) {
        const mine = world.postsOf(actor);
        path[p.name] = mine.length
          ? (mine[choice && 'existing' in choice ? choice.existing % mine.length : 0] as number)
          : await world.newPost(actor);
      } else if ('existing' in choice) {
        let ids = world.ids(kind);
        if (ids.length === 0) ids = [await world.newPost(actor)];
        path[p.name] = ids[choice.existing % ids.length] as number;
      } else path[p.name] = choice.id;
    }
    if (plan.arrange && semantics.arrange)
      Object.assign(path, await semantics.arrange(world, actor, path));

    const token = semantics.spendsToken ? await world.freshToken(actor) : (actor.token as string);
    let authorization: string | undefined;
    let loginAccount: Account | undefined;
    if (bearer) authorization = `${plan.authorization ?? 'Bearer'} ${token}`;
    else if (basic) {
      loginAccount = world.accounts[plan.actor % world.accounts.length] as Account;
      const login = loginAccount[plan.loginBy];
      const cased =
        plan.loginCase === 'upper'
          ? login.toUpperCase()
          : plan.loginCase === 'lower'
            ? login.toLowerCase()
            : login;
      authorization = `Basic ${Buffer.from(`${cased}:${loginAccount.password}`, 'utf8').toString('base64')}`;
    } else authorization = plan.authorization;

    /** The path with the parameters' values, or raw (already encoded) replacements. */
    const renderPath: PathRenderer = (raw = {}) =>
      op.path.replace(/\{(\w+)\}/g, (_, name: string) => raw[name] ?? String(path[name]));
    const req: WireRequest = { method: op.method, path: renderPath(), query: [], headers: {} };
    if (authorization !== undefined) req.headers.Authorization = authorization;
    if (plan.accept !== undefined) req.headers.Accept = plan.accept;

    let body = plan.body as Record<string, unknown> | undefined;
    if (body !== undefined && semantics.completeBody) body = semantics.completeBody(body, actor);
    if (body !== undefined) {
      req.headers['Content-Type'] = plan.contentType;
      req.body = JSON.stringify(body);
    }
    for (const p of queryParams) {
      const value = plan.query[p.name];
      if (value === undefined) continue;
      if (value === 'from the server' && p.name === 'cursor') {
        const cursor = await serverCursor(world, req);
        if (cursor) req.query.push(`cursor=${cursor}`);
      } else req.query.push(`${encodeURIComponent(p.name)}=${encodeURIComponent(String(value))}`);
    }
    for (const p of headerParams) {
      const choice = plan.headers[p.name];
      if (choice === undefined) continue;
      if (typeof choice === 'string') req.headers[p.name] = choice;
      else if ('echo' in choice) {
        const etag = (await send(world, req)).headers.get('etag');
        if (etag) req.headers[p.name] = etag;
      } else if (getOnSamePath) {
        const etag = (
          await send(world, {
            ...req,
            method: 'GET',
            query: [],
            headers: { Authorization: `Bearer ${token}` },
            body: undefined,
          })
        ).headers.get('etag');
        if (etag) req.headers[p.name] = etag;
      }
    }

    let expectation: Expectation = { kind: 'valid' };
    if (change.mutation)
      expectation = await mutate(world, req, change.mutation, { actor, token, actors, renderPath });
    if (change.edge) expectation = applyEdge(req, change.edge);

    const answer = await send(world, req);
    const failure = (what: string) =>
      new Error(
        `${what}\n${describe(req)}\n→ ${answer.status} ${answer.headers.get('content-type') ?? ''}\n${answer.text.slice(0, 600)}`,
      );
    if (answer.status >= 500) throw failure('a 5xx answer');
    const violations = contractViolations(contract, op, answer);
    if (violations.length)
      throw failure(`the answer breaks the contract: ${violations.join('; ')}`);

    if (expectation.kind === 'invalid') {
      if (answer.status !== expectation.status) {
        // Accepted after all: keep the model in step, so later properties fail for their own reasons only.
        if (answer.status < 300)
          await learn(world, answer, {
            actor,
            path,
            body: sentJson(req),
            req,
            loginAccount,
            token,
          });
        throw failure(`expected ${expectation.status} for ${expectation.why}`);
      }
      if (!(answer.headers.get('content-type') ?? '').startsWith('application/json'))
        throw failure('an error that is not the JSON error body');
      return { status: answer.status };
    }
    if (expectation.kind === 'edge') {
      // Still a request the server may act on: keep the model in step with what was sent.
      if (answer.status < 300)
        await learn(world, answer, { actor, path, body: sentJson(req), req, loginAccount, token });
      return { status: answer.status };
    }

    if (answer.status >= 400) {
      const refusal = await genuineRefusal(world, answer, { actor, path, body, req });
      if (!refusal) throw failure('a valid request was refused');
      return { status: answer.status, refusal };
    }
    await learn(world, answer, { actor, path, body, req, loginAccount, token });
    return { status: answer.status };
  }

  async function genuineRefusal(
    world: World,
    answer: Answer,
    {
      actor,
      path,
      body,
      req,
    }: {
      actor: Account;
      path: Record<string, number>;
      body: Record<string, unknown> | undefined;
      req: WireRequest;
    },
  ): Promise<string | undefined> {
    const message = (JSON.parse(answer.text || '{}') as { message?: string }).message ?? '';
    const self = semantics.self ? actor.id : undefined;
    const [username, email, yourself, missing, notFollowing, keyReused, tooDeep] = ALLOWED_REFUSALS;
    if (answer.status === 400) {
      if (
        message === 'please use a different username' &&
        typeof body?.username === 'string' &&
        (await world.taken('username', body.username, self))
      )
        return username;
      if (
        message === 'please use a different email address' &&
        typeof body?.email === 'string' &&
        (await world.taken('email', body.email, self))
      )
        return email;
      if (
        op.operationId === 'followUser' &&
        path.id === path.target_id &&
        message === 'you cannot follow yourself'
      )
        return yourself;
      if (message.startsWith('page (query): ') && pageTooDeep(req.query)) return tooDeep;
    }
    if (answer.status === 404) {
      for (const [name, id] of Object.entries(path)) {
        const kind = kinds.get(name) as ResourceKind;
        if (!(await world.exists(kind, id))) {
          if (kind === 'post') world.posts.delete(id);
          return missing;
        }
      }
      if (
        op.operationId === 'getFollow' &&
        !(await world.follows(path.id as number, path.target_id as number))
      )
        return notFollowing;
    }
    if (answer.status === 422) {
      const key = req.headers['Idempotency-Key'];
      const principal = isPublic ? 0 : actor.id;
      if (
        key !== undefined &&
        (await world.idempotencyKeyUsed(principal, key)) &&
        world.idempotencyKeys.get(`${principal} ${key}`) !== canonical(body)
      ) {
        return keyReused;
      }
    }
    return undefined;
  }

  /** Updates the model after a valid request succeeded. */
  async function learn(
    world: World,
    answer: Answer,
    {
      actor,
      path,
      body,
      req,
      loginAccount,
    }: {
      actor: Account;
      path: Record<string, number>;
      body: Record<string, unknown> | undefined;
      req: WireRequest;
      loginAccount?: Account;
      token: string;
    },
  ): Promise<void> {
    const json =
      answer.text && answer.headers.get('content-type')?.startsWith('application/json')
        ? (JSON.parse(answer.text) as Record<string, unknown>)
        : {};
    const replayed = answer.headers.get('idempotent-replayed') === 'true';
    const key = req.headers['Idempotency-Key'];
    if (key !== undefined && answer.status < 300 && !replayed)
      world.idempotencyKeys.set(`${isPublic ? 0 : actor.id} ${key}`, canonical(body));
    switch (op.operationId) {
      case 'createUser':
        if (!replayed && !world.accounts.some((a) => a.id === json.id)) {
          world.accounts.push({
            id: json.id as number,
            username: body?.username as string,
            email: body?.email as string,
            password: body?.password as string,
          });
        }
        break;
      case 'updateUser':
        actor.username = json.username as string;
        actor.email = json.email as string;
        if (typeof body?.password === 'string') actor.password = body.password;
        break;
      case 'createToken':
        if (loginAccount && loginAccount.token === undefined)
          loginAccount.token = json.token as string;
        break;
      case 'createPost':
        if (!replayed) world.posts.set(json.id as number, actor.id);
        break;
      case 'deletePost':
        world.posts.delete(path.id as number);
        break;
    }
  }

  return { operation: op, valid, invalid, edge, run };
}

async function mutate(
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

function applyEdge(req: WireRequest, e: Edge): Expectation {
  switch (e.on) {
    case 'cursor':
      req.query = req.query.filter((q) => !q.startsWith('cursor=')).concat(`cursor=${e.value}`);
      break;
    case 'accept':
      req.headers.Accept = e.value;
      break;
    case 'raw':
      setRawBody(req, e.body, e.contentType);
      break;
  }
  return { kind: 'edge', why: JSON.stringify(e).slice(0, 80) };
}

// ——— helpers ———

function setRawBody(req: WireRequest, raw: RawBody, contentType: string | null | undefined): void {
  const body = materialize(raw) as string | number[];
  req.body =
    typeof body === 'string'
      ? contentType === null
        ? new TextEncoder().encode(body)
        : body
      : Uint8Array.from(body);
  delete req.headers['Content-Type'];
  if (contentType !== null) req.headers['Content-Type'] = contentType ?? 'application/json';
}

async function serverCursor(world: World, req: WireRequest): Promise<string | undefined> {
  const answer = await send(world, { ...req, query: ['per_page=1'], body: undefined });
  const next = (JSON.parse(answer.text) as { _links?: { next?: string | null } })._links?.next;
  return next ? (new URL(next, 'http://x').searchParams.get('cursor') ?? undefined) : undefined;
}

const agent = new http.Agent({ keepAlive: true });

/** Closes the fuzzer's kept-alive connections. */
export const closeConnections = () => agent.destroy();

/** Sends through node:http, which (unlike fetch) sends a body with any method. */
export function send(world: World, req: WireRequest): Promise<Answer> {
  const query = req.query.length ? `?${req.query.join('&')}` : '';
  const url = new URL(world.server.baseUrl);
  const body = req.body === undefined ? undefined : Buffer.from(req.body);
  // Without a Content-Length, node:http sends a GET's or DELETE's body unframed.
  const headers =
    body === undefined ? req.headers : { ...req.headers, 'Content-Length': String(body.length) };
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path + query,
        headers,
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            for (const v of Array.isArray(value) ? value : [value ?? '']) headers.append(name, v);
          }
          resolve({
            status: res.statusCode ?? 0,
            headers,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
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

/** The JSON object a request carried, if it carried one. */
function sentJson(req: WireRequest): Record<string, unknown> | undefined {
  if (typeof req.body !== 'string') return undefined;
  try {
    const value: unknown = JSON.parse(req.body.replace(/^\ufeff/, ''));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function describeBody(body: WireRequest['body']): string {
  if (body === undefined) return '(none)';
  const s =
    typeof body === 'string' ? body : `bytes ${Buffer.from(body).toString('hex').slice(0, 80)}`;
  return s.length > 300 ? `${s.slice(0, 300)}… (${s.length} characters)` : s;
}

export function describe(req: WireRequest): string {
  const query = req.query.length ? `?${req.query.join('&')}` : '';
  const headers = Object.entries(req.headers).map(
    ([k, v]) => `${k}: ${v.length > 120 ? `${v.slice(0, 120)}… (${v.length})` : v}`,
  );
  return [`${req.method} ${req.path}${query}`, ...headers, '', describeBody(req.body)].join('\n');
}

/** JSON with object keys sorted, as the server fingerprints Idempotency-Key bodies. */
function canonical(value: unknown): string {
  return createHash('sha256')
    .update(
      JSON.stringify(value, (_k, v: unknown) =>
        v && typeof v === 'object' && !Array.isArray(v)
          ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
          : v,
      ),
    )
    .digest('hex');
}
