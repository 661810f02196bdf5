import type { ValidPlan, PathChoice } from './plans.js';
import type { OperationFacts } from './semantics.js';
import { send, type PathRenderer, type WireRequest } from './wire.js';
import type { Account, ResourceKind, World } from './world.js';

/** A valid plan bound to the world's live state: the request, and who and what it is about. */
export interface BoundRequest {
  req: WireRequest;
  actor: Account;
  actors: Account[];
  token: string;
  /** The path parameters' values. */
  path: Record<string, number>;
  /** The JSON body sent, completed by the semantics (undefined when none). */
  body: Record<string, unknown> | undefined;
  /** The account whose credentials a Basic login sent. */
  loginAccount: Account | undefined;
  renderPath: PathRenderer;
}

/** Binds a valid plan to the world: real ids, a token, the body completed, ETags and cursors fetched. */
export async function bindPlan(world: World, facts: OperationFacts, plan: ValidPlan): Promise<BoundRequest> {
  const { op, semantics, pathParams, queryParams, headerParams, bearer, basic, kinds, getOnSamePath } = facts;
  const actors = world.actors();
  const actor = actors[plan.actor % actors.length] as Account;
  const path: Record<string, number> = {};
  for (const p of pathParams) {
    const kind = kinds.get(p.name) as ResourceKind;
    const choice = plan.path[p.name] as PathChoice;
    if (p.name === semantics.self) path[p.name] = actor.id;
    else if (p.name === semantics.session) path[p.name] = await world.freshSession(actor);
    else if (p.name === semantics.author) {
      const mine = world.postsOf(actor);
      path[p.name] = mine.length
        ? (mine[choice && 'existing' in choice ? choice.existing % mine.length : 0] as number)
        : await world.newPost(actor);
    } else if ('existing' in choice) {
      let ids = world.ids(kind);
      if (ids.length === 0)
        ids = [kind === 'export' ? await world.newExport(actor) : kind === 'message' ? await world.messageOf(actor) : await world.newPost(actor)];
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
  if (body !== undefined && semantics.completeBody) body = await semantics.completeBody(body, actor, world);
  if (body !== undefined && plan.arrange && semantics.arrangeBody) body = await semantics.arrangeBody(world, actor, body);
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
  return { req, actor, actors, token, path, body, loginAccount, renderPath };
}

async function serverCursor(world: World, req: WireRequest): Promise<string | undefined> {
  // A search's cursor belongs to its `q` (a point in its ranking): the first page is asked with it.
  const search = req.query.filter((q) => q.startsWith('q='));
  const answer = await send(world, { ...req, query: [...search, 'per_page=1'], body: undefined });
  const next = (JSON.parse(answer.text) as { _links?: { next?: string | null } })._links?.next;
  return next ? (new URL(next, 'http://x').searchParams.get('cursor') ?? undefined) : undefined;
}
