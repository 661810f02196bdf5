import { Router } from 'express';
import type { Knex } from 'knex';
import { notificationsRepository } from '../db/notifications.js';
import { postsRepository } from '../db/posts.js';
import { usersRepository } from '../db/users.js';
import { authOf } from '../http/authentication.js';
import { checkIfMatch, etagOf, sendRepresentation } from '../http/caching.js';
import { forbidden, notFound } from '../http/http-error.js';
import { idempotent } from '../services/idempotency.js';
import { readPage } from '../db/pages.js';
import { searchRequest, timelineRequest } from '../http/pagination.js';
import { pageTop, searchResults, timeline } from '../representations/collections.js';
import { searchRepository } from '../db/search.js';
import { operation, sendAnswer } from '../http/operations.js';
import { links, toPost } from '../representations/resources.js';

/** /api/posts, /api/posts/{id}, /api/users/{id}/posts and /api/users/{id}/feed. */
export function postRoutes(db: Knex): Router {
  const router = Router({ caseSensitive: true });

  router.get(
    '/api/posts',
    operation('listPosts', async (req, res) => {
      const { q } = req.query;
      if (q !== undefined) {
        const found = searchRequest({ ...req.query, q });
        const { rows, total } = await searchRepository.posts(db, { ...found, viewerId: authOf(req).user.id, limit: found.limit + 1 });
        const body = searchResults(rows, total, found, links.posts, toPost);
        // A ranking has no top to refresh: no `newer` (null, as the contract says).
        sendRepresentation(req, res, { ...body, _links: { ...body._links, newer: null } });
        return;
      }
      const at = timelineRequest(req.query);
      const [rows, total] = await readPage(
        at,
        () => postsRepository.countAll(db),
        () => postsRepository.all(db, { ...at, limit: at.limit + 1 }),
      );
      sendRepresentation(req, res, timeline(rows, total, at, links.posts, toPost));
    }),
  );

  router.post(
    '/api/posts',
    operation('createPost', async (req, res) => {
      const author = authOf(req).user.id;
      const answer = await idempotent(db, req, author, async (trx) => {
        const row = await postsRepository.create(trx, author, req.body.body.trim());
        const post = toPost(row);
        return { status: 201, headers: { Location: links.post(row.id), ETag: etagOf(post) }, body: post };
      });
      sendAnswer(res, answer);
    }),
  );

  router.get(
    '/api/posts/:id',
    operation('getPost', async (req, res) => {
      const row = await postsRepository.findById(db, req.params.id);
      if (!row) throw notFound(`post ${req.params.id}`);
      sendRepresentation(req, res, toPost(row));
    }),
  );

  router.put(
    '/api/posts/:id',
    operation('updatePost', async (req, res) => {
      const { id } = req.params;
      const updated = await db.transaction(async (trx) => {
        const row = await postsRepository.findByIdForUpdate(trx, id);
        if (!row) throw notFound(`post ${id}`);
        if (row.user_id !== authOf(req).user.id) throw forbidden('you can only edit your own posts');
        checkIfMatch(req, [etagOf(toPost(row))]);
        return postsRepository.update(trx, id, req.body.body.trim());
      });
      res.json(toPost(updated));
    }),
  );

  router.delete(
    '/api/posts/:id',
    operation('deletePost', async (req, res) => {
      const { id } = req.params;
      await db.transaction(async (trx) => {
        const row = await postsRepository.findByIdForUpdate(trx, id);
        if (!row) throw notFound(`post ${id}`);
        if (row.user_id !== authOf(req).user.id) throw forbidden('you can only delete your own posts');
        checkIfMatch(req, [etagOf(toPost(row))]);
        await postsRepository.delete(trx, id);
      });
      res.status(204).end();
    }),
  );

  router.get(
    '/api/users/:id/posts',
    operation('listUserPosts', async (req, res) => {
      const { id } = req.params;
      const at = timelineRequest(req.query);
      const user = await usersRepository.findById(db, id);
      if (!user) throw notFound(`user ${id}`);
      const [rows, total] = await readPage(
        at,
        () => Promise.resolve(user.post_count),
        () => postsRepository.byUser(db, id, { ...at, limit: at.limit + 1 }),
      );
      sendRepresentation(req, res, timeline(rows, total, at, links.userPosts(id), toPost));
    }),
  );

  router.get(
    '/api/users/:id/feed',
    operation('getFeed', async (req, res) => {
      const { id } = req.params;
      if (authOf(req).user.id !== id) throw forbidden('you can only read your own feed');
      const at = timelineRequest(req.query);
      let unseen = 0;
      const [rows, total] = await readPage(
        at,
        async () => {
          const feed = await postsRepository.feedSize(db, id);
          unseen = feed.unseen;
          return feed.size;
        },
        () => postsRepository.feed(db, id, { ...at, limit: at.limit + 1 }),
      );
      // The top of the feed (its first page, or what is newer than a page) was shown:
      // new_post_in_feed counts what is above it now, a statement only when it counted
      // something (a post that came after the size was read is counted the next time).
      const top = at.position ? 'newer' in at.position : at.offset === 0;
      if (top && unseen > 0) await notificationsRepository.feedSeen(db, id, pageTop(rows, at));
      sendRepresentation(req, res, timeline(rows, total, at, links.feed(id), toPost));
    }),
  );

  return router;
}
