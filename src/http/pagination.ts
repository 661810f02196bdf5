import type { TimelinePosition } from '../db/posts.js';
import type { SearchPosition } from '../db/search.js';
import { decodeCursor, decodeIdCursor, decodeSearchCursor, MAX_PAGE_DEPTH, reachable } from '../representations/collections.js';
import { HttpError } from './http-error.js';

export const MAX_PER_PAGE = 100;

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

const unknownCursor = () => new HttpError(400, 'cursor: is not one this server made; follow the links it gives');

export interface TimelineRequest extends PageRequest {
  /** Where the page starts, carried opaquely in `next` and `newer` links. */
  position?: TimelinePosition;
}

/** page, per_page and cursor of a timeline request. */
export function timelineRequest(query: { page?: number; per_page?: number; cursor?: string } | undefined): TimelineRequest {
  if (!query?.cursor) return pageRequest(query, false);
  const position = decodeCursor(query.cursor);
  if (!position) throw unknownCursor();
  return { ...pageRequest(query, true), position };
}

export interface IdPageRequest extends PageRequest {
  /** The page holds ids greater than this one, carried opaquely in `next` links. */
  afterId?: number;
}

/** page, per_page and cursor of a request for a list ordered by id. */
export function idPageRequest(query: { page?: number; per_page?: number; cursor?: string } | undefined): IdPageRequest {
  if (!query?.cursor) return pageRequest(query, false);
  const afterId = decodeIdCursor(query.cursor);
  if (afterId === undefined) throw unknownCursor();
  return { ...pageRequest(query, true), afterId };
}

export interface SearchRequest extends PageRequest {
  /** What to search for, trimmed (the contract allows 1 to 100 characters once trimmed). */
  q: string;
  /** Where the page starts in the ranking, carried opaquely in `next` links. */
  position?: SearchPosition;
}

/** q, page, per_page and cursor of a search. */
export function searchRequest(query: { q: string; page?: number; per_page?: number; cursor?: string }): SearchRequest {
  const q = query.q.trim();
  if (!query.cursor) return { ...pageRequest(query, false), q };
  const position = decodeSearchCursor(query.cursor);
  if (!position) throw unknownCursor();
  return { ...pageRequest(query, true), q, position };
}
