import { createHash } from 'node:crypto';
import { MAX_PER_PAGE } from '../../src/http/pagination.js';
import { MAX_PAGE_DEPTH } from '../../src/representations/collections.js';
import { serverSentEvents } from '../../sdk/typescript/src/index.js';
import { contractViolations, type Answer, type Contract } from '../support/contract.js';
import type { Expectation } from './plans.js';
import type { BoundRequest } from './request.js';
import type { OperationFacts } from './semantics.js';
import { describe, sentJson, type WireRequest } from './wire.js';
import type { Account, ResourceKind, World } from './world.js';

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
  // Only the server mints reset tokens (and mails them): a generated one is never live.
  '400: the reset token was never issued, or is used or expired',
  "404: the export is not the caller's (another user's exports are not shown)",
  '409: the export is not done, so it has no file',
  '400: a user cannot block itself, or message itself',
  '403: the user named in the path blocks the caller (following it, messaging it)',
  '404: the user does not block the target (GET /users/{id}/blocked/{target_id})',
  "404: the message is not the caller's (a message between others is not shown)",
] as const;

/** Whether a list request asks for a page by number deeper than one is served. */
function pageTooDeep(query: string[]): boolean {
  const params = new URLSearchParams(query.join('&'));
  if (params.has('cursor')) return false;
  const perPage = Math.min(Number(params.get('per_page') ?? 10), MAX_PER_PAGE);
  return Number(params.get('page') ?? 1) * perPage > MAX_PAGE_DEPTH;
}

/**
 * Judges an answer: never a 5xx, always as the contract declares, and what the expectation
 * says (an invalid request's exact status; a valid one served, or refused only when the
 * database shows the refusal is genuine). Keeps the world's model in step with what succeeded.
 */
export async function judgeAnswer(
  world: World,
  contract: Contract,
  facts: OperationFacts,
  { req, actor, token, path, body, loginAccount }: BoundRequest,
  expectation: Expectation,
  answer: Answer,
): Promise<Outcome> {
  const { op } = facts;
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
        await learn(world, facts, answer, {
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
      await learn(world, facts, answer, { actor, path, body: sentJson(req), req, loginAccount, token });
    const strangers = await othersNotifications(world, facts, answer, actor);
    if (strangers) throw failure(strangers);
    return { status: answer.status };
  }

  if (answer.status >= 400) {
    const refusal = await genuineRefusal(world, facts, answer, { actor, path, body, req });
    if (!refusal) throw failure('a valid request was refused');
    return { status: answer.status, refusal };
  }
  await learn(world, facts, answer, { actor, path, body, req, loginAccount, token });
  const strangers = await othersNotifications(world, facts, answer, actor);
  if (strangers) throw failure(strangers);
  return { status: answer.status };
}

/**
 * What is wrong with the notifications a 200 of GET /api/notifications or of its stream
 * shows: each must be the caller's (the database says whose), and each event's `id:` its
 * notification's id, growing. Undefined when nothing is.
 */
async function othersNotifications(world: World, facts: OperationFacts, answer: Answer, actor: Account): Promise<string | undefined> {
  const { operationId } = facts.op;
  if (answer.status !== 200 || (operationId !== 'listNotifications' && operationId !== 'streamNotifications')) return undefined;
  let shown: { id: number }[];
  if (operationId === 'listNotifications') shown = (JSON.parse(answer.text) as { data: { id: number }[] }).data;
  else {
    shown = [];
    for await (const event of serverSentEvents(answer.text)) {
      const notification = JSON.parse(event.data) as { id: number };
      if (event.id !== String(notification.id)) return `an event's id ${event.id} is not its notification's (${notification.id})`;
      if (shown.length > 0 && notification.id <= (shown.at(-1) as { id: number }).id) return `event ids do not grow: ${notification.id} after ${shown.at(-1)?.id}`;
      shown.push(notification);
    }
  }
  const owners = await world.notificationOwners(shown.map((n) => n.id));
  const others = shown.filter((n) => owners.has(n.id) && owners.get(n.id) !== actor.id);
  return others.length ? `notifications of other users shown to user ${actor.id}: ${others.map((n) => `${n.id} (user ${owners.get(n.id)})`).join(', ')}` : undefined;
}

async function genuineRefusal(
  world: World,
  facts: OperationFacts,
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
  const { op, semantics, kinds, isPublic } = facts;
  const message = (JSON.parse(answer.text || '{}') as { message?: string }).message ?? '';
  const self = semantics.self ? actor.id : undefined;
  const [username, email, yourself, missing, notFollowing, keyReused, tooDeep, deadResetToken, notYourExport, exportNotDone, blockOrMessageYourself, blocked, notBlocking, notYourMessage] =
    ALLOWED_REFUSALS;
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
    if (op.operationId === 'blockUser' && path.id === path.target_id && message === 'you cannot block yourself') return blockOrMessageYourself;
    if (op.operationId === 'sendMessage' && path.id === actor.id && message === 'you cannot message yourself') return blockOrMessageYourself;
    if (message.startsWith('page (query): ') && pageTooDeep(req.query)) return tooDeep;
    if (
      op.operationId === 'resetPassword' &&
      message === 'the reset token is used, expired or unknown; ask for a new one' &&
      typeof body?.token === 'string' &&
      !(await world.liveResetToken(body.token))
    )
      return deadResetToken;
  }
  if (answer.status === 403 && semantics.blockedBy !== undefined && message.endsWith(', who has blocked you')) {
    if (await world.blocks(path[semantics.blockedBy] as number, actor.id)) return blocked;
  }
  if (answer.status === 404) {
    for (const [name, id] of Object.entries(path)) {
      const kind = kinds.get(name) as ResourceKind;
      if (kind === 'message') {
        const parties = await world.messageParties(id);
        if (!parties) return missing;
        if (parties.sender_id !== actor.id && parties.recipient_id !== actor.id) return notYourMessage;
        continue;
      }
      if (kind === 'export') {
        const found = await world.exportOf(id);
        if (!found) return missing;
        if (found.user_id !== actor.id) return notYourExport;
        continue;
      }
      if (!(await world.exists(kind, id))) {
        if (kind === 'post') world.posts.delete(id);
        if (kind === 'session') world.sessions.delete(id);
        return missing;
      }
    }
    if (op.operationId === 'getBlock' && !(await world.blocks(path.id as number, path.target_id as number))) return notBlocking;
    if (
      op.operationId === 'getFollow' &&
      !(await world.follows(path.id as number, path.target_id as number))
    )
      return notFollowing;
  }
  if (answer.status === 409 && op.operationId === 'getExportFile' && (await world.exportOf(path.id as number))?.status !== 'done')
    return exportNotDone;
  if (answer.status === 422) {
    const key = req.headers['Idempotency-Key'];
    const principal = isPublic ? 0 : actor.id;
    if (
      key !== undefined &&
      (await world.idempotencyKeyUsed(principal, key)) &&
      world.idempotencyKeys.get(`${principal} ${key}`) !== requestPrint(req, body)
    ) {
      return keyReused;
    }
  }
  return undefined;
}

/** Updates the model after a valid request succeeded. */
async function learn(
  world: World,
  facts: OperationFacts,
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
  const { op, isPublic } = facts;
  const json =
    answer.text && answer.headers.get('content-type')?.startsWith('application/json')
      ? (JSON.parse(answer.text) as Record<string, unknown>)
      : {};
  const replayed = answer.headers.get('idempotent-replayed') === 'true';
  const key = req.headers['Idempotency-Key'];
  if (key !== undefined && answer.status < 300 && !replayed)
    world.idempotencyKeys.set(`${isPublic ? 0 : actor.id} ${key}`, requestPrint(req, body));
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
    case 'resetPassword':
      // Only an arranged token (the actor's) is served: the password is the new one, and
      // every token of the actor is revoked.
      if (typeof body?.password === 'string') actor.password = body.password;
      actor.token = await world.freshToken(actor);
      break;
    case 'createToken':
      if (loginAccount && loginAccount.token === undefined)
        loginAccount.token = json.token as string;
      break;
    case 'createPost':
      if (!replayed) world.posts.set(json.id as number, actor.id);
      break;
    case 'sendMessage':
      if (!replayed) world.messages.set(json.id as number, [actor.id, path.id as number]);
      break;
    case 'createExport':
      world.exports.set(json.id as number, actor.id);
      break;
    case 'deletePost':
      world.posts.delete(path.id as number);
      break;
    case 'endSession':
      world.sessions.delete(path.session_id as number);
      break;
  }
}

/**
 * What the server fingerprints a request by for its Idempotency-Key: method, path and body
 * (a key used for one operation is another request on another: POST /api/posts after
 * POST /api/users/{id}/messages with the same key and body is a 422).
 */
function requestPrint(req: WireRequest, body: Record<string, unknown> | undefined): string {
  return `${req.method} ${req.path}\n${canonical(body)}`;
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
