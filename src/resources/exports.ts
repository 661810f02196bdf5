import { once } from 'node:events';
import { Router, type Response } from 'express';
import type { Knex } from 'knex';
import { exportsRepository } from '../db/exports.js';
import { authOf } from '../http/authentication.js';
import { notModifiedSince, sendRepresentation } from '../http/caching.js';
import { forbidden, HttpError, notFound } from '../http/http-error.js';
import { operation } from '../http/operations.js';
import { exportFileName, exportLinks, toExport } from '../representations/exports.js';
import { requestExport, type ExportQueue } from '../services/exports.js';

/** /api/users/{id}/exports, /api/exports/{id} and its file. */
export function exportRoutes(db: Knex, queue: ExportQueue | undefined): Router {
  const router = Router({ caseSensitive: true });

  router.post(
    '/api/users/:id/exports',
    operation('createExport', async (req, res) => {
      const { id } = req.params;
      if (authOf(req).user.id !== id) throw forbidden('you can only export your own posts');
      const { row } = await requestExport(db, queue, id);
      res.status(202).set('Location', exportLinks.export(row.id)).json(toExport(row));
    }),
  );

  // Another user's export is a 404, as one that does not exist: its id tells nobody else anything.
  const ownExport = async (id: number, userId: number) => {
    const row = await exportsRepository.findOfUser(db, id, userId);
    if (!row) throw notFound(`export ${id}`);
    return row;
  };

  router.get(
    '/api/exports/:id',
    operation('getExport', async (req, res) => {
      sendRepresentation(req, res, toExport(await ownExport(req.params.id, authOf(req).user.id)));
    }),
  );

  router.get(
    '/api/exports/:id/file',
    operation('getExportFile', async (req, res) => {
      const row = await ownExport(req.params.id, authOf(req).user.id);
      if (row.status !== 'done') {
        throw new HttpError(409, row.status === 'failed' ? `export ${row.id} failed; ask for a new export` : `export ${row.id} is ${row.status}; its file is there once it is done`);
      }
      // A done export's file never changes: its id names its only version.
      const etag = `"export-${row.id}"`;
      res.setHeader('ETag', etag);
      if (notModifiedSince(req, etag)) {
        res.status(304).end();
        return;
      }
      res.set({ 'Content-Type': 'application/json; charset=utf-8', 'Content-Disposition': `attachment; filename="${exportFileName(row)}"` });
      await sendChunks(res, (seq) => exportsRepository.chunk(db, row.id, seq), row.chunk_count);
    }),
  );

  return router;
}

/**
 * Streams the file, one chunk (one batch of posts) read at a time: '[' chunks joined by ','
 * ']'. The first chunk is read before the status line goes out, so a database failure
 * there is an ordinary error answer; a later one can only cut the answer short.
 */
async function sendChunks(res: Response, chunk: (seq: number) => Promise<string | undefined>, count: number): Promise<void> {
  const read = async (seq: number) => {
    const content = await chunk(seq);
    if (content === undefined) throw new Error(`chunk ${seq} of a done export is missing`);
    return content;
  };
  const first = count > 0 ? await read(0) : undefined;
  res.status(200);
  const write = async (text: string) => {
    if (!res.write(text)) await once(res, 'drain');
  };
  try {
    await write(first === undefined ? '[' : `[${first}`);
    for (let seq = 1; seq < count; seq++) await write(`,${await read(seq)}`);
    res.end(']');
  } catch (err) {
    res.destroy(err as Error);
  }
}
