import { beforeAll, describe, expect, it } from 'vitest';
import { basic, createUser, uniqueName, type TestUser } from './support/factories.js';
import { operationsOf, resolveRef } from './support/contract.js';
import { PASSWORD } from './support/constants.js';
import { send as sendTo, type Answer } from './support/http.js';
import { useServer } from './support/server.js';

const server = useServer();

type Json = Record<string, unknown>;
const METHODS = ['get', 'put', 'post', 'delete'];
/** Statuses no request can be made to get on demand here (the rate-limit and outage tests cover them). */
const NOT_REPRODUCIBLE = new Set(['429', '500', '503']);
/** Answers the contract declares for a race no test can arrange. */
const UNREACHABLE: Record<string, string> = {
  // Only the user itself may update it (403 first), and users are never deleted.
  'updateUser 404': "the user is the token's own, so it exists",
};
const MISSING_ID = 999_999_999;

/** The contract as Swagger UI reads it, from the server. */
let contract: Json;
const resolve = (node: unknown): Json => resolveRef<Json>(contract, node);

interface Operation {
  operationId: string;
  method: string;
  path: string;
  security: string[];
  operation: Json;
}

function operations(): Operation[] {
  return operationsOf(contract)
    .filter(({ method }) => METHODS.includes(method))
    .map(({ operationId, method, route, security, operation }) => ({ operationId, method: method.toUpperCase(), path: route, security, operation }));
}

/** One request as the recipes below shape it. */
interface Call {
  method: string;
  path: string;
  query?: string;
  authorization?: string;
  headers?: Record<string, string>;
  body?: unknown;
}

interface World {
  alice: TestUser;
  bob: TestUser;
  posts: { alice: number; bob: number };
  /** A session of alice's other than her token's, and its refresh token. */
  session: { id: number; refreshToken: string };
  /** A message from alice to bob. */
  message: number;
}
let world: World;

beforeAll(async () => {
  contract = (await (await server.fetch('/api/openapi.json')).json()) as Json;
  const [alice, bob] = await Promise.all([createUser(server), createUser(server)]);
  const post = async (user: TestUser) => {
    const res = await server.fetch('/api/posts', { method: 'POST', headers: { ...user.auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ body: 'Hello' }) });
    return ((await res.json()) as { id: number }).id;
  };
  const login = await server.fetch('/api/tokens', { method: 'POST', headers: { Authorization: basic(alice.username, alice.password) } });
  const { session_id, refresh_token } = (await login.json()) as { session_id: number; refresh_token: string };
  const sent = await server.fetch(`/api/users/${bob.id}/messages`, { method: 'POST', headers: { ...alice.auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ body: 'Hi Bob' }) });
  const message = ((await sent.json()) as { id: number }).id;
  world = { alice, bob, posts: { alice: await post(alice), bob: await post(bob) }, session: { id: session_id, refreshToken: refresh_token }, message };
  await server.fetch(`/api/users/${alice.id}/followed/${bob.id}`, { method: 'PUT', headers: alice.auth });
});

/** A body each operation that takes one accepts. */
function validBody(operationId: string): unknown {
  const username = uniqueName('docs');
  return {
    createUser: { username, email: `${username}@example.com`, password: PASSWORD },
    updateUser: { about_me: 'Still here' },
    createPost: { body: `Hello, world! (${username})` },
    sendMessage: { body: `Hello, Bob! (${username})` },
    updatePost: { body: 'Hello again, world!' },
    createToken: { device: 'Docs laptop' },
    refreshToken: { refresh_token: world.session.refreshToken },
    requestPasswordReset: { email: `${username}@example.com` },
    // No mail is read here: a token never issued, which the recipes below build on.
    resetPassword: { token: 'never-issued', password: PASSWORD },
  }[operationId];
}

/** A call that succeeds, made by alice on what `owner` owns (alice's own things by default). */
function validCall(op: Operation, owner: TestUser = world.alice): Call {
  const post = owner === world.alice ? world.posts.alice : world.posts.bob;
  const other = owner === world.alice ? world.bob : world.alice;
  const path = op.path
    .replace('{target_id}', String(other.id))
    .replace('{session_id}', String(world.session.id))
    .replace('{id}', String(op.path.startsWith('/api/posts/') ? post : op.path.startsWith('/api/messages/') ? world.message : op.operationId === 'sendMessage' ? other.id : owner.id));
  const authorization = op.security.includes('basic')
    ? basic(world.alice.username, world.alice.password)
    : op.security.includes('bearer')
      ? world.alice.auth.Authorization
      : undefined;
  // The stream answers an event stream (its errors JSON): a call that would succeed accepts one.
  const headers = op.operationId === 'streamNotifications' ? { headers: { Accept: 'text/event-stream' } } : {};
  return { method: op.method, path, authorization, body: validBody(op.operationId), ...headers };
}

/**
 * An export of alice's in a state no request brings about on demand, put in the database:
 * queued by nobody, it stays as it is. (One unfinished export per user: a running one is reused.)
 */
async function exportOfAlice(status: 'running' | 'failed'): Promise<number> {
  const user_id = world.alice.id;
  const running = status === 'running' && (await server.db('exports').where({ user_id, status }).first('id'));
  if (running) return running.id as number;
  const [row] = await server.db('exports').insert({ user_id, status, finished_at: status === 'failed' ? server.db.fn.now() : null }).returning('id');
  return (row as { id: number }).id;
}

/** A recipe's call, through the shared sender. */
const send = (call: Call): Promise<Answer> =>
  sendTo(server, call.method, call.path + (call.query ? `?${call.query}` : ''), {
    authorization: call.authorization || undefined,
    headers: { Accept: 'application/json', ...call.headers },
    ...(typeof call.body === 'string' ? { body: call.body } : { json: call.body }),
  });

const withPathId = (call: Call, id: string | number): Call => ({ ...call, path: call.path.replace(/^(\/api\/\w+\/)\d+/, `$1${id}`) });
const withLastId = (call: Call, id: number): Call => ({ ...call, path: call.path.replace(/\d+(?=\D*$)/, String(id)) });

/**
 * How to get each named error example of the contract from an operation: the example's name
 * says what the request does wrong, starting from a call that succeeds.
 */
const RECIPES: Record<string, (op: Operation) => Promise<Answer>> = {
  unknownQuery: (op) => send({ ...validCall(op), query: 'unknown=1' }),
  invalidId: (op) => send(withPathId(validCall(op), 'abc')),
  perPage: (op) => send({ ...validCall(op), query: 'per_page=0' }),
  cursor: (op) => send({ ...validCall(op), query: 'cursor=made-up' }),
  tooDeep: (op) => send({ ...validCall(op), query: 'page=1001' }),
  takenUsername: (op) => send({ ...validCall(op), body: { ...(validBody(op.operationId) as Json), username: world.bob.username.toUpperCase() } }),
  takenEmail: (op) => send({ ...validCall(op), body: { ...(validBody(op.operationId) as Json), email: world.bob.email.toUpperCase() } }),
  missingMembers: (op) => send({ ...validCall(op), body: {} }),
  invalidEmail: (op) => send({ ...validCall(op), body: { ...(validBody(op.operationId) as Json), email: 'susan.example.com' } }),
  unknownResetToken: (op) => send(validCall(op)),
  shortPassword: (op) => send({ ...validCall(op), body: { ...(validBody(op.operationId) as Json), password: 'short' } }),
  currentPasswordMissing: (op) => send({ ...validCall(op), body: { password: 'a much longer new password' } }),
  followYourself: (op) => send({ ...validCall(op), path: `/api/users/${world.alice.id}/followed/${world.alice.id}` }),
  blankBody: (op) => send({ ...validCall(op), body: { body: '   ' } }),
  noCredentials: (op) => send({ ...validCall(op), authorization: undefined }),
  invalidToken: (op) => send({ ...validCall(op), authorization: 'Bearer not-a-token' }),
  wrongLogin: (op) => send({ ...validCall(op), authorization: basic(world.alice.username, 'not the password') }),
  notYours: (op) => send(validCall(op, world.bob)),
  wrongCurrentPassword: (op) => send({ ...validCall(op), body: { password: 'a much longer new password', current_password: 'not the password' } }),
  // The last id in the path: the target's, when there are two.
  userMissing: (op) => send(withLastId(validCall(op), MISSING_ID)),
  postMissing: (op) => send(withLastId(validCall(op), MISSING_ID)),
  sessionMissing: (op) => send(withLastId(validCall(op), MISSING_ID)),
  deviceTooLong: (op) => send({ ...validCall(op), body: { device: 'x'.repeat(101) } }),
  malformed: (op) => send({ ...validCall(op), body: '{', headers: { 'Content-Type': 'application/json' } }),
  missing: (op) => send({ ...validCall(op), body: {} }),
  invalidRefreshToken: (op) => send({ ...validCall(op), body: { refresh_token: 'not-a-refresh-token' } }),
  notFollowing: (op) => send({ ...validCall(op), path: `/api/users/${world.bob.id}/followed/${world.alice.id}` }),
  notAcceptable: (op) => send({ ...validCall(op), headers: { Accept: 'application/xml' } }),
  // The event stream asked for as JSON, as a generated SDK's Accept may put it.
  notAcceptableStream: (op) => send({ ...validCall(op), headers: { Accept: 'application/json' } }),
  tooLarge: (op) => send({ ...validCall(op), body: { about_me: 'x'.repeat(70_000) } }),
  notJson: (op) => send({ ...validCall(op), headers: { 'Content-Type': 'text/plain' } }),
  changed: (op) => send({ ...validCall(op), headers: { 'If-Match': '"an-old-version"' } }),
  headersTooLarge: (op) => send({ ...validCall(op), headers: { 'X-Padding': 'x'.repeat(17 * 1024) } }),
  exportMissing: (op) => send(withLastId(validCall(op), MISSING_ID)),
  running: async (op) => send(withLastId(validCall(op), await exportOfAlice('running'))),
  failed: async (op) => send(withLastId(validCall(op), await exportOfAlice('failed'))),
  messageYourself: (op) => send({ ...validCall(op), path: `/api/users/${world.alice.id}/messages` }),
  blockYourself: (op) => send({ ...validCall(op), path: `/api/users/${world.alice.id}/blocked/${world.alice.id}` }),
  // alice does not block bob: no recipe makes alice block anyone.
  notBlocking: (op) => send(validCall(op)),
  messageMissing: (op) => send(withLastId(validCall(op), MISSING_ID)),
  // A new user who blocks alice, whom alice then follows or messages (the last id in the path).
  blocked: async (op) => {
    const carol = await createUser(server);
    await server.fetch(`/api/users/${carol.id}/blocked/${world.alice.id}`, { method: 'PUT', headers: carol.auth });
    return send(withLastId(validCall(op), carol.id));
  },
  keyReused: async (op) => {
    const key = uniqueName('key');
    await send({ ...validCall(op), headers: { 'Idempotency-Key': key } });
    return send({ ...validCall(op), headers: { 'Idempotency-Key': key } });
  },
};

/** Ids and numbers differ from run to run; the wording does not. */
const wording = (body: unknown) => JSON.parse(JSON.stringify(body).replace(/\d+/g, 'N')) as unknown;

describe('openapi.yaml as Swagger UI shows it', () => {
  it('shows, for each operation, error examples that operation answers with, word for word', async () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const op of operations()) {
      for (const [status, declared] of Object.entries(op.operation.responses as Json)) {
        if (!/^4\d\d$/.test(status) && !NOT_REPRODUCIBLE.has(status)) continue;
        const media = resolve(declared).content as Record<string, Json> | undefined;
        const json = media?.['application/json'];
        if (!json || NOT_REPRODUCIBLE.has(status) || UNREACHABLE[`${op.operationId} ${status}`]) continue;
        const examples = Object.entries((json.examples ?? { unnamed: { value: json.example } }) as Record<string, Json>);
        for (const [name, example] of examples) {
          const label = `${op.operationId} ${status} ${name}`;
          const recipe = RECIPES[name];
          if (!recipe) {
            wrong.push(`${label}: no request is known to get it (${JSON.stringify(example.value)})`);
            continue;
          }
          const res = await recipe(op);
          checked += 1;
          if (String(res.status) !== status || JSON.stringify(wording(res.body)) !== JSON.stringify(wording(example.value)))
            wrong.push(`${label}: shows ${JSON.stringify(example.value)}, the server answers ${res.status} ${res.text}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(50);
  });

  it('shows a new user with no posts, followers or followed users in the answer to a registration', () => {
    const op = operations().find((o) => o.operationId === 'createUser') as Operation;
    const created = resolve((op.operation.responses as Json)['201']);
    const json = (created.content as Record<string, Json>)['application/json'] as Json;
    const example = (json.example ?? resolve(json.schema).examples) as Json | Json[];
    expect([example].flat()).toEqual([
      expect.objectContaining({ email: expect.any(String), post_count: 0, follower_count: 0, followed_count: 0 }),
    ]);
  });

  it('fills in no Idempotency-Key, so each "Try it out" is a request of its own', () => {
    const keys = operations().flatMap((op) =>
      ((op.operation.parameters ?? []) as Json[]).map(resolve).filter((p) => p.name === 'Idempotency-Key'),
    );
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      const schema = resolve(key.schema);
      expect({ example: key.example, examples: key.examples, schemaExamples: schema.examples, default: schema.default }).toEqual({});
    }
  });

  it('describes posts and feeds as well as users, follows and tokens', () => {
    const info = contract.info as Json;
    const text = `${info.summary as string} ${info.description as string}`;
    for (const word of ['users', 'follow', 'tokens', 'posts', 'feed']) expect(text).toContain(word);
  });

  it('explains the headers the answers carry once, in the introduction, and each in a line where it is declared', () => {
    const headers = contract.components as { headers: Record<string, Json> };
    const long = Object.entries(headers.headers)
      .filter(([, header]) => (header.description as string).trim().includes('\n') || (header.description as string).length > 100)
      .map(([name]) => name);
    expect(long).toEqual([]);
    const description = (contract.info as Json).description as string;
    for (const name of ['X-Request-Id', 'RateLimit-Policy', 'RateLimit', 'Retry-After']) expect(description).toContain(`\`${name}\``);
  });
});
