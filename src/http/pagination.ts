import type { components } from '../../generated/openapi.js';

type PageMeta = components['schemas']['PageMeta'];
type PageLinks = components['schemas']['PageLinks'];

export const MAX_PER_PAGE = 100;

export interface PageRequest {
  page: number;
  perPage: number;
  offset: number;
  limit: number;
}

/** page and per_page as validated by the contract; per_page above the maximum is served as it. */
export function pageRequest(query: { page?: number; per_page?: number } | undefined): PageRequest {
  const page = query?.page ?? 1;
  const perPage = Math.min(query?.per_page ?? 10, MAX_PER_PAGE);
  return { page, perPage, offset: (page - 1) * perPage, limit: perPage };
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
  return {
    items,
    _meta: { page, per_page: perPage, total_pages: totalPages, total_items: totalItems },
    _links: {
      self: link(page),
      next: page < totalPages ? link(page + 1) : null,
      prev: page > 1 ? link(Math.max(1, Math.min(page - 1, totalPages))) : null,
    },
  };
}
