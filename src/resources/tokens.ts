import { Router } from 'express';
import type { Knex } from 'knex';
import { tokensRepository } from '../db/tokens.js';
import { authOf } from '../http/authentication.js';
import { operation, type ResponseBody } from '../http/operations.js';
import { newToken } from '../security/tokens.js';

/** POST /api/tokens (log in with Basic credentials), DELETE /api/tokens (log out). */
export function tokenRoutes(db: Knex, tokenTtlSeconds: number): Router {
  const router = Router({ caseSensitive: true });

  router.post(
    '/api/tokens',
    operation('createToken', async (req, res) => {
      const { user } = authOf(req);
      const { token, hash } = newToken();
      const expiresAt = new Date(Date.now() + tokenTtlSeconds * 1000);
      await tokensRepository.deleteExpiredOfUser(db, user.id);
      await tokensRepository.create(db, user.id, hash, expiresAt);
      const body: ResponseBody<'createToken', 200> = {
        token,
        expires_at: expiresAt.toISOString(),
        user_id: user.id,
      };
      res.json(body);
    }),
  );

  router.delete(
    '/api/tokens',
    operation('revokeToken', async (req, res) => {
      const { tokenId } = authOf(req);
      if (tokenId !== null) await tokensRepository.delete(db, tokenId);
      res.status(204).end();
    }),
  );

  return router;
}
