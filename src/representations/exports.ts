import type { components } from '../../generated/openapi.js';
import type { ExportRow } from '../db/tables.js';
import { links } from './resources.js';

export type Export = components['schemas']['Export'];

export const exportLinks = {
  export: (id: number) => `/api/exports/${id}`,
  file: (id: number) => `/api/exports/${id}/file`,
  create: (userId: number) => `/api/users/${userId}/exports`,
};

/** An export as its owner sees it: the file's link only once it is done. */
export function toExport(row: ExportRow): Export {
  return {
    id: row.id,
    status: row.status,
    progress: row.progress,
    post_count: row.post_count,
    created_at: row.created_at.toISOString(),
    finished_at: row.finished_at ? row.finished_at.toISOString() : null,
    _links: {
      self: exportLinks.export(row.id),
      user: links.user(row.user_id),
      ...(row.status === 'done' ? { file: exportLinks.file(row.id) } : {}),
    },
  };
}

/** The name a browser saves an export's file under. */
export function exportFileName(row: Pick<ExportRow, 'id'>): string {
  return `microblog-posts-export-${row.id}.json`;
}
