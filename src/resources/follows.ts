import { Router, type Response } from 'express';
import type { Knex } from 'knex';
import { blocksRepository } from '../db/blocks.js';
import { followsRepository } from '../db/follows.js';
import { notificationsRepository } from '../db/notifications.js';
import { usersRepository } from '../db/users.js';
import { sendRepresentation } from '../http/caching.js';
import { authOf } from '../http/authentication.js';
import { badRequest, forbidden, HttpError, notFound } from '../http/http-error.js';
import { readPage } from '../db/pages.js';
import { idPageRequest } from '../http/pagination.js';
import { idCollection } from '../representations/collections.js';
import { operation, type ValidRequest } from '../http/operations.js';
import { links, toUser } from '../representations/resources.js';

/** /api/users/{id}/followers, /followed and /followed/{target_id}. */
export function followRoutes(db: Knex): Router {
  const router = Router({ caseSensitive: true });

  const listRelated =
    (direction: 'followers' | 'followed') =>
    async (req: ValidRequest<'listFollowers' | 'listFollowed'>, res: Response) => {
      const viewer = authOf(req).user.id;
      const { id } = req.params;
      const page = idPageRequest(req.query);
      const user = await usersRepository.findById(db, id);
      if (!user) throw notFound(`user ${id}`);
      const size = direction === 'followers' ? user.follower_count : user.followed_count;
      // Reading one's own followers: the new_follower notification counts from 0 again, before
      // the read, so a follower who comes in between is shown and still counted.
      if (direction === 'followers' && viewer === id) await notificationsRepository.followersSeen(db, id);
      const [rows, total] = await readPage(
        page,
        () => Promise.resolve(size),
        () => usersRepository.related(db, id, direction, { ...page, limit: page.limit + 1 }),
      );
      sendRepresentation(req, res, idCollection(rows, total, page, links[direction](id), (row) => toUser(row, viewer), (row) => row.id));
    };
  router.get('/api/users/:id/followers', operation('listFollowers', listRelated('followers')));
  router.get('/api/users/:id/followed', operation('listFollowed', listRelated('followed')));

  router.get(
    '/api/users/:id/followed/:target_id',
    operation('getFollow', async (req, res) => {
      const { id, target_id } = req.params;
      if (!(await followsRepository.exists(db, id, target_id))) {
        throw new HttpError(404, `user ${id} does not follow user ${target_id}`);
      }
      res.status(204).end();
    }),
  );

  router.put(
    '/api/users/:id/followed/:target_id',
    operation('followUser', async (req, res) => {
      const { id, target_id } = req.params;
      if (authOf(req).user.id !== id) throw forbidden('you can only change whom you follow');
      if (target_id === id) throw badRequest('you cannot follow yourself');
      if (!(await usersRepository.findById(db, target_id))) throw notFound(`user ${target_id}`);
      await db.transaction(async (trx) => {
        // The follow first, then the check, in one transaction: a new follow's counters lock
        // both users rows until it commits (core migration), and a block takes the same rows
        // before anything else (db/blocks.ts). So a block under way when the follow is made
        // commits before the check below, which then sees it; one made after waits for this
        // follow and ends it. A block and a follow never both win.
        await followsRepository.add(trx, id, target_id);
        if (await blocksRepository.isBlocked(trx, target_id, id)) {
          throw forbidden(`you cannot follow user ${target_id}, who has blocked you`);
        }
      });
      res.status(204).end();
    }),
  );

  router.delete(
    '/api/users/:id/followed/:target_id',
    operation('unfollowUser', async (req, res) => {
      const { id, target_id } = req.params;
      if (authOf(req).user.id !== id) throw forbidden('you can only change whom you follow');
      await followsRepository.remove(db, id, target_id);
      res.status(204).end();
    }),
  );

  return router;
}
