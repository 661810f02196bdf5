import type { SchemaArbitraries } from './arbitraries.js';
import type { Contract, Operation, Parameter, Schema } from '../support/contract.js';
import type { Account, ResourceKind, World } from './world.js';

/**
 * What the contract cannot say about an operation, written down once: who may call it
 * (which path parameter must be the caller, or name a post of the caller's), and what
 * a valid request needs beyond its schemas. Every operation that declares a 403 must say
 * who may call it here, so a new one is not fuzzed on guesswork.
 */
export interface Semantics {
  /** The path parameter that must be the caller's own user id. */
  self?: string;
  /** The path parameter that must be a post the caller wrote. */
  author?: string;
  /** The path parameter that must be a session of the caller's, never the one whose token it acts with. */
  session?: string;
  /** The path parameter naming a user whose block of the caller makes the request a 403. */
  blockedBy?: string;
  /** The request uses up its token (so it gets a fresh one). */
  spendsToken?: boolean;
  /** Makes a generated body semantically valid: a password change needs the present password. */
  completeBody?: (
    body: Record<string, unknown>,
    actor: Account,
    world: World,
  ) => Record<string, unknown> | Promise<Record<string, unknown>>;
  /** Brings about a state in which the request's body succeeds (when `arrange` was drawn): a reset token only the server can mint. */
  arrangeBody?: (world: World, actor: Account, body: Record<string, unknown>) => Promise<Record<string, unknown>>;
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
  followUser: { self: 'id', blockedBy: 'target_id' },
  unfollowUser: { self: 'id' },
  getFeed: { self: 'id' },
  updatePost: { author: 'id' },
  deletePost: { author: 'id' },
  revokeToken: { spendsToken: true },
  // Ending the session the actor acts with would leave it without a token: a session of its own made for the call.
  endSession: { session: 'session_id' },
  // Only the caller's own sessions are shown (another's, or an ended one, is a 404 like a missing one): a session of its own made for the call.
  getSession: { session: 'session_id' },
  // A refresh token is made only by the server, and good for one exchange: a new login's.
  refreshToken: {
    completeBody: async (_body, actor, world) => ({ refresh_token: await world.freshRefreshToken(actor) }),
  },
  // A reset token is mailed, never generated: issue one for the actor, as the mail would carry.
  resetPassword: { arrangeBody: async (world, actor, body) => ({ ...body, token: await world.issueResetToken(actor) }) },
  createExport: { self: 'id' },
  // Only the caller's own exports are shown (another's is a 404); arranged, a done one of its own.
  getExport: { arrange: async (world, actor, path) => ({ ...path, id: await world.doneExportOf(actor) }) },
  getExportFile: { arrange: async (world, actor, path) => ({ ...path, id: await world.doneExportOf(actor) }) },
  listBlocked: { self: 'id' },
  getBlock: {
    self: 'id',
    // Drawn ids are rarely blocked; block one, so that 204 is seen as well as 404.
    arrange: async (world, actor, path) => {
      const target = path.target_id !== actor.id ? (path.target_id as number) : world.accounts.find((a) => a.id !== actor.id)?.id;
      if (target === undefined || !(await world.exists('user', target))) return path;
      await world.expect(204, 'PUT', `/api/users/${actor.id}/blocked/${target}`, actor);
      return { ...path, id: actor.id, target_id: target };
    },
  },
  blockUser: { self: 'id' },
  unblockUser: { self: 'id' },
  sendMessage: { blockedBy: 'id' },
  // Only the sender and the recipient see a message (anyone else gets a 404); arranged, one of the actor's.
  getMessage: { arrange: async (world, actor, path) => ({ ...path, id: await world.messageOf(actor) }) },
  // Each caller sees its own notifications only (judge.ts checks every one listed or
  // streamed against the database); arranged, another account writes to the actor, so that
  // it has an unread_message_count to see. The stream ends after a second: fuzz.test.ts runs
  // its server with NOTIFICATIONS_STREAM_MAX_SECONDS=1, so each call takes at most that.
  listNotifications: { arrange: async (world, actor, path) => (await world.messageTo(actor), path) },
  streamNotifications: { arrange: async (world, actor, path) => (await world.messageTo(actor), path) },
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
  SessionId: 'session',
  ExportId: 'export',
  BlockedId: 'user',
  RecipientId: 'user',
  MessageId: 'message',
};

/** What the fuzzer works from for one operation: its parameters by place, who may call it, its body's schema. */
export interface OperationFacts {
  op: Operation;
  semantics: Semantics;
  pathParams: Parameter[];
  queryParams: Parameter[];
  headerParams: Parameter[];
  bearer: boolean;
  basic: boolean;
  isPublic: boolean;
  /** The path parameter that must be the caller's, or name a post of the caller's. */
  owned: string | undefined;
  /** Where real values of each path parameter come from. */
  kinds: Map<string, ResourceKind>;
  /** The request body's schema, dereferenced, when the operation takes one. */
  bodySchema: Schema | undefined;
  /** The GET on the same path, whose ETag an If-Match can take. */
  getOnSamePath: Operation | undefined;
  /** What its successes come as, which an Accept header must allow: an event stream or JSON. */
  produces: 'application/json' | 'text/event-stream';
}

/** Reads an operation's facts, refusing one the fuzzer has not been told enough about. */
export function factsOf(contract: Contract, op: Operation, arbs: SchemaArbitraries): OperationFacts {
  const semantics = SEMANTICS[op.operationId] ?? {};
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const headerParams = op.parameters.filter((p) => p.in === 'header');
  const bearer = op.security.includes('bearer');
  const basic = op.security.includes('basic');
  const isPublic = op.security.length === 0;
  const owned = semantics.self ?? semantics.author;
  if (op.responses.has('403') !== (owned !== undefined || semantics.blockedBy !== undefined)) {
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
  const produces = [...op.responses].some(([status, answer]) => status.startsWith('2') && answer.content.has('text/event-stream'))
    ? 'text/event-stream'
    : 'application/json';
  return { op, semantics, pathParams, queryParams, headerParams, bearer, basic, isPublic, owned, kinds, bodySchema, getOnSamePath, produces };
}
