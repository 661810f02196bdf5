import { Router } from 'express';
import { operation, type ResponseBody } from '../http/operations.js';
import { links } from '../representations/resources.js';

/** GET /api: the entry point. */
export function apiRoutes(): Router {
  const router = Router({ caseSensitive: true });
  router.get(
    '/api',
    operation('getApi', (_req, res) => {
      const body: ResponseBody<'getApi', 200> = {
        _links: { users: links.users, posts: links.posts, tokens: links.tokens, docs: links.docs, openapi: links.openapi },
      };
      res.json(body);
    }),
  );
  return router;
}
