import type { components } from '../../generated/openapi.js';
import type { TimelineCursor } from '../db/posts.js';

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

export function encodeCursor(row: { created_at: Date; id: number }): string {
  return Buffer.from(`${row.created_at.getTime()}.${row.id}`).toString('base64url');
}

/** The position a timeline cursor names, or undefined when this server did not make it. */
export function decodeCursor(value: string): TimelineCursor | undefined {
  const match = /^(\d{1,15})\.(\d{1,16})$/.exec(Buffer.from(value, 'base64url').toString('latin1'));
  const id = Number(match?.[2]);
  if (!match || !Number.isSafeInteger(id)) return undefined;
  return { createdAt: new Date(Number(match[1])), id };
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

/** The collection envelope for a timeline (newest first), its next link carrying a cursor. */
export function timeline<R extends { created_at: Date; id: number }, T>(
  rows: R[],
  totalItems: number,
  request: Page & { cursor?: TimelineCursor },
  path: string,
  represent: (row: R) => T,
): ReturnType<typeof collection<T>> {
  const cursor = request.cursor && encodeCursor({ created_at: request.cursor.createdAt, id: request.cursor.id });
  return keyset(rows, totalItems, { ...request, cursor }, path, represent, encodeCursor);
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
