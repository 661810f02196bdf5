import { Router } from 'express';
import { sendRepresentation } from '../http/caching.js';
import { operation, type ResponseBody } from '../http/operations.js';
import { links } from '../representations/resources.js';

/** GET /api: the entry point. */
export function apiRoutes(): Router {
  const router = Router({ caseSensitive: true });
  router.get(
    '/api',
    operation('getApi', (req, res) => {
      const body: ResponseBody<'getApi', 200> = {
        _links: {
          users: links.users,
          posts: links.posts,
          messages: links.messages,
          notifications: links.notifications,
          tokens: links.tokens,
          docs: links.docs,
          openapi: links.openapi,
        },
      };
      sendRepresentation(req, res, body);
    }),
  );
  return router;
}
