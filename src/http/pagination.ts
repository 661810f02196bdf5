import type { components } from '../../generated/openapi.js';
import type { TimelineCursor } from '../db/posts.js';
import { HttpError } from './http-error.js';

type PageMeta = components['schemas']['PageMeta'];
type PageLinks = components['schemas']['PageLinks'];

export const MAX_PER_PAGE = 100;

/**
 * How deep a page by number may reach (page × per_page): an OFFSET makes the database walk
 * every row it skips, so deeper pages are reached through the cursor of `next` links instead.
 */
export const MAX_PAGE_DEPTH = 10_000;

/** Whether a page number is served without a cursor. */
const reachable = (page: number, perPage: number) => page * perPage <= MAX_PAGE_DEPTH;

export interface PageRequest {
  page: number;
  perPage: number;
  /** Rows to skip; 0 when a cursor says where the page starts. */
  offset: number;
  limit: number;
}

/**
 * page and per_page as validated by the contract; per_page above the maximum is served as it.
 * Without a cursor, a page deeper than MAX_PAGE_DEPTH is refused before any SQL runs.
 */
function pageRequest(query: { page?: number; per_page?: number } | undefined, byCursor: boolean): PageRequest {
  const page = query?.page ?? 1;
  const perPage = Math.min(query?.per_page ?? 10, MAX_PER_PAGE);
  if (!byCursor && !reachable(page, perPage)) throw tooDeep(perPage);
  return { page, perPage, offset: byCursor ? 0 : (page - 1) * perPage, limit: perPage };
}

function tooDeep(perPage: number): HttpError {
  const rule = `must be at most ${Math.floor(MAX_PAGE_DEPTH / perPage)} when per_page is ${perPage} (page × per_page ≤ ${MAX_PAGE_DEPTH})`;
  const way = 'to go deeper, follow _links.next: its cursor reaches any page at the cost of the first';
  return new HttpError(400, `page (query): ${rule}; ${way}`, {}, [{ path: '/query/page', message: `${rule}; ${way}` }]);
}

/**
 * The rows of a page and the size of its collection. A page by offset learns the size first
 * and reads no rows when it lies past the end, where an OFFSET would walk every row to find
 * none; the first page and a page after a cursor ask for both at once.
 */
export async function readPage<R>(request: PageRequest, size: () => Promise<number>, rows: () => Promise<R[]>): Promise<[R[], number]> {
  if (request.offset === 0) return Promise.all([rows(), size()]);
  const total = await size();
  return [request.offset >= total ? [] : await rows(), total];
}

/** The collection envelope every list endpoint answers with. */
export function collection<T>(
  items: T[],
  totalItems: number,
  { page, perPage }: PageRequest,
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

export interface TimelineRequest extends PageRequest {
  /** Where the page starts, carried opaquely in `next` links. */
  cursor?: TimelineCursor;
}

export function encodeCursor(row: { created_at: Date; id: number }): string {
  return Buffer.from(`${row.created_at.getTime()}.${row.id}`).toString('base64url');
}

function decodeCursor(value: string): TimelineCursor {
  const match = /^(\d{1,15})\.(\d{1,16})$/.exec(Buffer.from(value, 'base64url').toString('latin1'));
  const id = Number(match?.[2]);
  if (!match || !Number.isSafeInteger(id)) throw new HttpError(400, 'cursor: is not one this server made; follow the links it gives');
  return { createdAt: new Date(Number(match[1])), id };
}

/** page, per_page and cursor of a timeline request. */
export function timelineRequest(query: { page?: number; per_page?: number; cursor?: string } | undefined): TimelineRequest {
  if (!query?.cursor) return pageRequest(query, false);
  return { ...pageRequest(query, true), cursor: decodeCursor(query.cursor) };
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
  request: PageRequest & { cursor?: string },
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
  request: TimelineRequest,
  path: string,
  represent: (row: R) => T,
): ReturnType<typeof collection<T>> {
  const cursor = request.cursor && encodeCursor({ created_at: request.cursor.createdAt, id: request.cursor.id });
  return keyset(rows, totalItems, { ...request, cursor }, path, represent, encodeCursor);
}

export interface IdPageRequest extends PageRequest {
  /** The page holds ids greater than this one, carried opaquely in `next` links. */
  afterId?: number;
}

function encodeIdCursor(id: number): string {
  return Buffer.from(`i${id}`).toString('base64url');
}

function decodeIdCursor(value: string): number {
  const match = /^i(\d{1,16})$/.exec(Buffer.from(value, 'base64url').toString('latin1'));
  const id = Number(match?.[1]);
  if (!match || !Number.isSafeInteger(id)) throw new HttpError(400, 'cursor: is not one this server made; follow the links it gives');
  return id;
}

/** page, per_page and cursor of a request for a list ordered by id. */
export function idPageRequest(query: { page?: number; per_page?: number; cursor?: string } | undefined): IdPageRequest {
  if (!query?.cursor) return pageRequest(query, false);
  return { ...pageRequest(query, true), afterId: decodeIdCursor(query.cursor) };
}

/** The collection envelope for a list ordered by id, its next link carrying a cursor. */
export function idCollection<R, T>(
  rows: R[],
  totalItems: number,
  request: IdPageRequest,
  path: string,
  represent: (row: R) => T,
  idOf: (row: R) => number,
): ReturnType<typeof collection<T>> {
  const cursor = request.afterId === undefined ? undefined : encodeIdCursor(request.afterId);
  return keyset(rows, totalItems, { ...request, cursor }, path, represent, (row) => encodeIdCursor(idOf(row)));
}
