import type { components } from '../../generated/openapi.js';
import type { TimelineCursor, TimelinePosition } from '../db/posts.js';
import type { SearchPosition } from '../db/search.js';

type PageMeta = components['schemas']['PageMeta'];
type PageLinks = components['schemas']['PageLinks'];

/**
 * How deep a page by number may reach (page × per_page): an OFFSET makes the database walk
 * every row it skips, so deeper pages are reached through the cursor of `next` links instead.
 */
export const MAX_PAGE_DEPTH = 10_000;

/** Whether a page number is served without a cursor. */
export const reachable = (page: number, perPage: number) => page * perPage <= MAX_PAGE_DEPTH;

/** The page a collection answers with; `cursor` says where it starts when a link gave one. */
export interface Page {
  page: number;
  perPage: number;
}

/** The collection envelope every list endpoint answers with. */
export function collection<T>(
  items: T[],
  totalItems: number,
  { page, perPage }: Page,
  path: string,
): { items: T[]; _meta: PageMeta; _links: PageLinks } {
  const totalPages = Math.ceil(totalItems / perPage);
  const link = (p: number) => `${path}?page=${p}&per_page=${perPage}`;
  const prev = Math.max(1, Math.min(page - 1, totalPages));
  return {
    items,
    _meta: { page, per_page: perPage, total_pages: totalPages, total_items: totalItems },
    _links: {
      self: link(page),
      next: page < totalPages ? link(page + 1) : null,
      // A page reached by cursor may sit deeper than a page number is served: no link to a 400.
      prev: page > 1 && reachable(prev, perPage) ? link(prev) : null,
    },
  };
}

/** A cursor for the page strictly older than `row` (a `next` link). */
export function encodeCursor(row: { created_at: Date; id: number }): string {
  return Buffer.from(`${row.created_at.getTime()}.${row.id}`).toString('base64url');
}

/** A cursor for the posts strictly newer than a position (a `newer` link). */
export function encodeNewerCursor(at: TimelineCursor): string {
  return Buffer.from(`>${at.createdAt.getTime()}.${at.id}`).toString('base64url');
}

/** The position a timeline cursor names, or undefined when this server did not make it. */
export function decodeCursor(value: string): TimelinePosition | undefined {
  const match = /^(>?)(\d{1,15})\.(\d{1,16})$/.exec(Buffer.from(value, 'base64url').toString('latin1'));
  const id = Number(match?.[3]);
  if (!match || !Number.isSafeInteger(id)) return undefined;
  const at = { createdAt: new Date(Number(match[2])), id };
  return match[1] ? { newer: at } : { older: at };
}

export function encodeIdCursor(id: number): string {
  return Buffer.from(`i${id}`).toString('base64url');
}

/** The id an id cursor names, or undefined when this server did not make it. */
export function decodeIdCursor(value: string): number | undefined {
  const match = /^i(\d{1,16})$/.exec(Buffer.from(value, 'base64url').toString('latin1'));
  const id = Number(match?.[1]);
  if (!match || !Number.isSafeInteger(id)) return undefined;
  return id;
}

/**
 * A collection whose `next` link carries a cursor: `rows` holds up to one row more than
 * the page, which tells whether there is a next page, and `after` encodes the position
 * after a row. Following such links costs the same on every page and, on timelines,
 * neither skips nor repeats items while new ones arrive at the top.
 */
function keyset<R, T>(
  rows: R[],
  totalItems: number,
  request: Page & { cursor?: string },
  path: string,
  represent: (row: R) => T,
  after: (row: R) => string,
): ReturnType<typeof collection<T>> {
  const pageRows = rows.slice(0, request.perPage);
  const last = pageRows[pageRows.length - 1];
  const body = collection(pageRows.map(represent), totalItems, request, path);
  if (request.cursor) body._links.self += `&cursor=${request.cursor}`;
  body._links.next =
    rows.length > request.perPage && last ? `${path}?page=${request.page + 1}&per_page=${request.perPage}&cursor=${after(last)}` : null;
  return body;
}

type TimelineLinks = components['schemas']['TimelineLinks'];

/** Below everything: `newer` than this is a timeline from its first post. */
const BOTTOM: TimelineCursor = { createdAt: new Date(0), id: 0 };

/**
 * The collection envelope for a timeline (newest first): `next` carries a cursor below the
 * page's last item, `newer` one above its first. `rows` is newest first; going down it holds
 * up to one row more than the page (there is a next page), going up (`newer`) up to one row
 * more at its top, which is left for the next `newer`: a page above a point is the posts
 * just above it.
 */
export function timeline<R extends { created_at: Date; id: number }, T>(
  rows: R[],
  totalItems: number,
  request: Page & { position?: TimelinePosition },
  path: string,
  represent: (row: R) => T,
): { items: T[]; _meta: PageMeta; _links: TimelineLinks } {
  const { position } = request;
  if (position && 'newer' in position) {
    const pageRows = rows.slice(Math.max(0, rows.length - request.perPage));
    const body = collection(pageRows.map(represent), totalItems, request, path);
    const last = pageRows[pageRows.length - 1];
    return {
      ...body,
      _links: {
        self: `${body._links.self}&cursor=${encodeNewerCursor(position.newer)}`,
        next: last ? `${path}?page=${request.page + 1}&per_page=${request.perPage}&cursor=${encodeCursor(last)}` : null,
        prev: body._links.prev,
        newer: newerLink(path, request, pageTop(rows, request)),
      },
    };
  }
  const cursor = position && encodeCursor({ created_at: position.older.createdAt, id: position.older.id });
  const body = keyset(rows, totalItems, { ...request, cursor }, path, represent, encodeCursor);
  return { ...body, _links: { ...body._links, newer: newerLink(path, request, pageTop(rows, request)) } };
}

/**
 * Where a timeline page's `newer` starts: its newest post shown; above an empty page, just
 * below where it starts (the cursor's own post included), or the bottom. `rows` as read for
 * the page (newest first, one more than the page for `next`).
 */
export function pageTop(rows: { created_at: Date; id: number }[], request: Page & { position?: TimelinePosition }): TimelineCursor {
  const { position } = request;
  if (position && 'newer' in position) {
    const first = rows[Math.max(0, rows.length - request.perPage)];
    return first ? { createdAt: first.created_at, id: first.id } : position.newer;
  }
  const [first] = rows;
  if (first) return { createdAt: first.created_at, id: first.id };
  return position ? { createdAt: position.older.createdAt, id: Math.max(0, position.older.id - 1) } : BOTTOM;
}

function newerLink(path: string, { page, perPage }: Page, above: TimelineCursor): string {
  return `${path}?page=${Math.max(1, page - 1)}&per_page=${perPage}&cursor=${encodeNewerCursor(above)}`;
}

/** The collection envelope for a list ordered by id, its next link carrying a cursor. */
export function idCollection<R, T>(
  rows: R[],
  totalItems: number,
  request: Page & { afterId?: number },
  path: string,
  represent: (row: R) => T,
  idOf: (row: R) => number,
): ReturnType<typeof collection<T>> {
  const cursor = request.afterId === undefined ? undefined : encodeIdCursor(request.afterId);
  return keyset(rows, totalItems, { ...request, cursor }, path, represent, (row) => encodeIdCursor(idOf(row)));
}

/** A cursor for the results ranked after `row` (a `next` link of a search). */
export function encodeSearchCursor(row: { rank: number; at_us: number; id: number }): string {
  return Buffer.from(`s${row.rank}_${row.at_us}_${row.id}`).toString('base64url');
}

/** The point in a ranking a search cursor names, or undefined when this server did not make it. */
export function decodeSearchCursor(value: string): SearchPosition | undefined {
  const match = /^s([0-9.eE+-]{1,32})_(\d{1,17})_(\d{1,16})$/.exec(Buffer.from(value, 'base64url').toString('latin1'));
  if (!match) return undefined;
  const position = { rank: Number(match[1]), atUs: Number(match[2]), id: Number(match[3]) };
  if (!Number.isFinite(position.rank) || !Number.isSafeInteger(position.atUs) || !Number.isSafeInteger(position.id)) return undefined;
  return position;
}

/**
 * The collection envelope for search results (ranked, `rows` holding up to one row more
 * than the page): `next` carries the last result's point in the ranking, and every link
 * carries `q`.
 */
export function searchResults<R extends { rank: number; at_us: number; id: number }, T>(
  rows: R[],
  totalItems: number,
  request: Page & { q: string; position?: SearchPosition },
  path: string,
  represent: (row: R) => T,
): ReturnType<typeof collection<T>> {
  const { position } = request;
  const cursor = position && encodeSearchCursor({ rank: position.rank, at_us: position.atUs, id: position.id });
  const body = keyset(rows, totalItems, { ...request, cursor }, path, represent, encodeSearchCursor);
  const withQ = (link: string | null) => link && link.replace(`${path}?`, `${path}?q=${encodeURIComponent(request.q)}&`);
  return { ...body, _links: { self: withQ(body._links.self) as string, next: withQ(body._links.next), prev: withQ(body._links.prev) } };
}
