import createClient, {
  type Client,
  type FetchOptions,
  type HeadersOptions,
  type Middleware,
} from 'openapi-fetch';
import { unwrap, type CallResult } from './errors.js';
import { withRetries, type RetryOptions } from './retry.js';
import type { paths, Token } from './schema.js';

export interface MicroblogClientOptions {
  /** Where the API is served, e.g. `https://microblog.example` (the paths start with `/api`). */
  baseUrl: string;
  /** A bearer token from an earlier login. */
  token?: string | undefined;
  /** The fetch to use (a test double, a fetch with retries…); `globalThis.fetch` by default. */
  fetch?: ((input: Request) => Promise<Response>) | undefined;
  /**
   * Retries of `POST /api/users` and `POST /api/posts` after a network error or a 503, each
   * under one `Idempotency-Key` (the caller's, else a new UUID per call) so that the server
   * acts at most once. On by default; `false` sends each request once, as given.
   */
  retry?: RetryOptions | false | undefined;
}

type JsonOk<Operation> = Operation extends {
  responses: { 200: { content: { 'application/json': infer Body } } };
}
  ? Body
  : never;

/** The paths whose GET answers a paged collection: `{ items, _meta, _links: { next } }`. */
export type CollectionPath = {
  [P in keyof paths]: paths[P] extends { get: infer Operation }
    ? JsonOk<Operation> extends { items: unknown[]; _links: { next: string | null } }
      ? P
      : never
    : never;
}[keyof paths];

type GetOperation<P extends CollectionPath> = paths[P]['get'];
/** One page of the collection at P. */
export type PageOf<P extends CollectionPath> = JsonOk<GetOperation<P>>;
/** An item of the collection at P. */
export type ItemOf<P extends CollectionPath> = PageOf<P>['items'][number];
/** What the first request for a collection takes: path and query parameters, headers… */
export type PageInit<P extends CollectionPath> = FetchOptions<GetOperation<P>>;
/** A page of a timeline (`/api/posts`, `/api/users/{id}/posts`, `/api/users/{id}/feed`). */
export type TimelinePage = {
  [P in CollectionPath]: PageOf<P> extends { _links: { newer: string | null } } ? PageOf<P> : never;
}[CollectionPath];
/** The init is required where the path has parameters, as in `client.GET`. */
type PageInitArgs<P extends CollectionPath> =
  undefined extends GetOperation<P>['parameters']['path']
    ? [init?: PageInit<P>]
    : [init: PageInit<P>];

export interface MicroblogClient extends Client<paths> {
  /** The bearer token sent with each request that brings no Authorization header of its own. */
  readonly token: string | undefined;
  /** The refresh token of the last `login` or `refresh`, which `refresh()` exchanges. */
  readonly refreshToken: string | undefined;
  /** Sends `token` from now on (`undefined`: no token). */
  setToken(token: string | undefined): void;
  /**
   * Logs in with HTTP Basic credentials (username or email, and password) through
   * `POST /api/tokens`, starting a session named after `device` when given; sends the new
   * access token from now on, keeps the refresh token, and returns both.
   * Throws MicroblogApiError (401 for wrong credentials).
   */
  login(login: string, password: string, options?: { device?: string }): Promise<Token>;
  /**
   * Exchanges the refresh token (the kept one unless another is given) for the session's
   * next pair through `POST /api/tokens/refresh`; sends the new access token from now on.
   * Throws MicroblogApiError (401: the session has ended; log in again).
   */
  refresh(refreshToken?: string): Promise<Token>;
  /** Ends the session in use (`DELETE /api/tokens`) and stops sending its token. Throws MicroblogApiError. */
  logout(): Promise<void>;
  /**
   * Each page of a collection, from the one `init` asks for, following `_links.next`
   * to the end. Throws MicroblogApiError when a page cannot be had.
   */
  pages<P extends CollectionPath>(
    path: P,
    ...init: PageInitArgs<P>
  ): AsyncGenerator<PageOf<P>, void, undefined>;
  /**
   * Each item of a collection, page after page (see `pages`):
   * `for await (const user of client.paginate('/api/users')) …`.
   */
  paginate<P extends CollectionPath>(
    path: P,
    ...init: PageInitArgs<P>
  ): AsyncGenerator<ItemOf<P>, void, undefined>;
  /**
   * What arrived above a page of a timeline (pull-to-refresh): each page of the posts newer
   * than `page`'s first item, following `_links.newer` until a page comes back empty (not
   * yielded). Each page is newest first and lies above the one before it, so
   * `posts.unshift(...newer.items)` keeps a list newest first; the last page yielded (or
   * `page`, when none was) holds the `newer` link to ask again later. `init.headers` goes
   * with every request. Throws MicroblogApiError when a page cannot be had. A page of
   * search results (`q`) has no `newer` link (`null`): nothing is yielded.
   */
  newer<Page extends TimelinePage>(
    page: Page,
    init?: { headers?: HeadersOptions },
  ): AsyncGenerator<Page, void, undefined>;
}

/**
 * A typed client for the Microblog API: openapi-fetch over the contract's types, plus
 * bearer authentication, login/logout and paging.
 *
 * Typed calls (`client.GET(...)`, `client.POST(...)`…) resolve to `{ data, error, response }`
 * and do not throw for an HTTP error; `unwrap()` turns that into data or a thrown
 * MicroblogApiError. The helpers (`login`, `logout`, `pages`, `paginate`, `newer`) throw
 * MicroblogApiError. A network failure rejects with fetch's own error.
 */
export function createMicroblogClient(options: MicroblogClientOptions): MicroblogClient {
  const fetchOnce = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const client = createClient<paths>({
    baseUrl: options.baseUrl,
    fetch: options.retry === false ? fetchOnce : withRetries(fetchOnce, options.retry ?? {}),
  });
  let token = options.token;
  let refreshToken: string | undefined;

  const bearer: Middleware = {
    onRequest({ request }) {
      if (token !== undefined && !request.headers.has('Authorization')) {
        request.headers.set('Authorization', `Bearer ${token}`);
      }
      return request;
    },
  };
  client.use(bearer);

  /** A GET whose path is only known at run time (a generic P, or a link). */
  const get = client.GET as unknown as (
    path: string,
    init?: object,
  ) => Promise<CallResult<unknown>>;

  async function* pages<P extends CollectionPath>(path: P, ...[init]: PageInitArgs<P>) {
    let result = await get(path, init);
    // Later pages: the link carries path and query; the rest of init (headers…) still applies.
    const rest = Object.fromEntries(
      Object.entries(init ?? {}).filter(([key]) => key !== 'params' && key !== 'querySerializer'),
    );
    for (;;) {
      const page = unwrap(result) as PageOf<P>;
      yield page;
      const next = page._links.next;
      if (next === null) return;
      const link = resolveLink(next, options.baseUrl);
      result = await get(link.path, { ...rest, baseUrl: link.baseUrl });
    }
  }

  async function* newer<Page extends TimelinePage>(
    page: Page,
    init: { headers?: HeadersOptions } = {},
  ) {
    for (let above = page; ;) {
      // Search results are ranked, not timed: nothing lies above them.
      if (above._links.newer === null) return;
      const link = resolveLink(above._links.newer, options.baseUrl);
      above = unwrap(await get(link.path, { ...init, baseUrl: link.baseUrl })) as Page;
      if (above.items.length === 0) return;
      yield above;
    }
  }

  // Not Object.assign with a getter: it would copy the token's value once, not the accessor.
  Object.defineProperty(client, 'token', { get: () => token, enumerable: true });
  Object.defineProperty(client, 'refreshToken', { get: () => refreshToken, enumerable: true });
  return Object.assign(client, {
    setToken(value: string | undefined) {
      token = value;
    },
    async login(login: string, password: string, options: { device?: string } = {}) {
      const issued = unwrap(
        await client.POST('/api/tokens', {
          headers: { Authorization: basic(login, password) },
          ...(options.device === undefined ? {} : { body: { device: options.device } }),
        }),
      );
      token = issued.token;
      refreshToken = issued.refresh_token;
      return issued;
    },
    async refresh(given?: string) {
      const exchanged = given ?? refreshToken;
      if (exchanged === undefined) throw new TypeError('no refresh token: log in first');
      const issued = unwrap(
        await client.POST('/api/tokens/refresh', { body: { refresh_token: exchanged } }),
      );
      token = issued.token;
      refreshToken = issued.refresh_token;
      return issued;
    },
    async logout() {
      unwrap(await client.DELETE('/api/tokens'));
      token = undefined;
      refreshToken = undefined;
    },
    pages,
    async *paginate<P extends CollectionPath>(path: P, ...init: PageInitArgs<P>) {
      for await (const page of pages(path, ...init)) yield* page.items as ItemOf<P>[];
    },
    newer,
  }) as MicroblogClient;
}

/**
 * Where a link leads, as a base URL and a path: links are root-relative
 * (`/api/users?page=2&per_page=10`), so they resolve against the origin of `baseUrl`.
 */
function resolveLink(link: string, baseUrl: string): { baseUrl: string; path: string } {
  if (!/^[a-z][a-z\d+.-]*:/i.test(baseUrl)) return { baseUrl, path: link }; // a relative baseUrl, in a browser
  const url = new URL(link, baseUrl);
  return { baseUrl: url.origin, path: `${url.pathname}${url.search}` };
}

/** The Basic credentials, UTF-8 encoded as RFC 7617 asks (a password may hold any character). */
function basic(login: string, password: string): string {
  const bytes = new TextEncoder().encode(`${login}:${password}`);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `Basic ${btoa(binary)}`;
}
