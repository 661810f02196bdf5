import { Router } from 'express';
import type { Knex } from 'knex';
import { followsRepository } from '../db/follows.js';
import { usersRepository } from '../db/users.js';
import { authOf } from '../http/auth.js';
import { badRequest, forbidden, HttpError, notFound } from '../http/errors.js';
import { collection, pageRequest } from '../http/pagination.js';
import { operation } from '../http/typed.js';
import { links, toUser } from '../representations.js';

/** /api/users/{id}/followers, /followed and /followed/{target_id}. */
export function followRoutes(db: Knex): Router {
  const router = Router();

  router.get(
    '/api/users/:id/followers',
    operation('listFollowers', async (req, res) => {
      const viewer = authOf(req).user.id;
      const { id } = req.params;
      const user = await usersRepository.findById(db, id);
      if (!user) throw notFound(`user ${id}`);
      const page = pageRequest(req.query);
      const rows = await usersRepository.followers(db, id, page);
      res.json(collection(rows.map((row) => toUser(row, viewer)), user.follower_count, page, links.followers(id)));
    }),
  );

  router.get(
    '/api/users/:id/followed',
    operation('listFollowed', async (req, res) => {
      const viewer = authOf(req).user.id;
      const { id } = req.params;
      const user = await usersRepository.findById(db, id);
      if (!user) throw notFound(`user ${id}`);
      const page = pageRequest(req.query);
      const rows = await usersRepository.followed(db, id, page);
      res.json(collection(rows.map((row) => toUser(row, viewer)), user.followed_count, page, links.followed(id)));
    }),
  );

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
      await followsRepository.add(db, id, target_id);
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
