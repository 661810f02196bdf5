import { Router } from 'express';
import type { Knex } from 'knex';
import { blocksRepository } from '../db/blocks.js';
import { readPage } from '../db/pages.js';
import { authOf } from '../http/authentication.js';
import { sendRepresentation } from '../http/caching.js';
import { badRequest, forbidden, HttpError, notFound } from '../http/http-error.js';
import { operation } from '../http/operations.js';
import { idPageRequest } from '../http/pagination.js';
import { idCollection } from '../representations/collections.js';
import { links, toUser } from '../representations/resources.js';

const NOT_YOURS_TO_SEE = 'you can only see whom you block';
const NOT_YOURS_TO_CHANGE = 'you can only change whom you block';

/** /api/users/{id}/blocked and /api/users/{id}/blocked/{target_id}: whom one blocks, one's own business. */
export function blockRoutes(db: Knex): Router {
  const router = Router({ caseSensitive: true });

  router.get(
    '/api/users/:id/blocked',
    operation('listBlocked', async (req, res) => {
      const { id } = req.params;
      if (authOf(req).user.id !== id) throw forbidden(NOT_YOURS_TO_SEE);
      const page = idPageRequest(req.query);
      const [rows, total] = await readPage(
        page,
        () => blocksRepository.count(db, id),
        () => blocksRepository.list(db, id, { ...page, limit: page.limit + 1 }),
      );
      sendRepresentation(req, res, idCollection(rows, total, page, links.blocked(id), (row) => toUser(row, id), (row) => row.id));
    }),
  );

  router.get(
    '/api/users/:id/blocked/:target_id',
    operation('getBlock', async (req, res) => {
      const { id, target_id } = req.params;
      if (authOf(req).user.id !== id) throw forbidden(NOT_YOURS_TO_SEE);
      if (!(await blocksRepository.isBlocked(db, id, target_id))) {
        throw new HttpError(404, `user ${id} does not block user ${target_id}`);
      }
      res.status(204).end();
    }),
  );

  router.put(
    '/api/users/:id/blocked/:target_id',
    operation('blockUser', async (req, res) => {
      const { id, target_id } = req.params;
      if (authOf(req).user.id !== id) throw forbidden(NOT_YOURS_TO_CHANGE);
      if (target_id === id) throw badRequest('you cannot block yourself');
      await db.transaction(async (trx) => {
        // Both users rows, in id order, as a new follow's counters take them: a follow of the
        // blocker by the target under way is waited for and then ended here; one made after
        // waits for this block and then sees it (db/blocks.ts, resources/follows.ts).
        const found = await blocksRepository.lockUsers(trx, id, target_id);
        if (!found.includes(target_id)) throw notFound(`user ${target_id}`);
        await blocksRepository.add(trx, id, target_id);
        // The blocked user stops following the blocker; the blocker's own follow stays.
        await blocksRepository.endFollow(trx, target_id, id);
      });
      res.status(204).end();
    }),
  );

  router.delete(
    '/api/users/:id/blocked/:target_id',
    operation('unblockUser', async (req, res) => {
      const { id, target_id } = req.params;
      if (authOf(req).user.id !== id) throw forbidden(NOT_YOURS_TO_CHANGE);
      await blocksRepository.remove(db, id, target_id);
      res.status(204).end();
    }),
  );

  return router;
}
