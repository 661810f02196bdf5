import { Router } from 'express';
import type { Knex } from 'knex';
import { tokensRepository } from '../db/tokens.js';
import { authOf } from '../http/authentication.js';
import { operation, type ResponseBody } from '../http/operations.js';
import type { PasswordResetLimits } from '../http/rate-limit.js';
import { newToken } from '../security/tokens.js';
import type { PasswordResets } from '../services/password-reset.js';
import { passwordRule } from './users.js';

export interface TokenRoutesOptions {
  tokenTtlSeconds: number;
  passwordMinLength: number;
  passwordResets: PasswordResets;
  passwordResetLimits: PasswordResetLimits;
}

/** The one answer to every accepted request for a reset mail, known address or not. */
const RESET_ACCEPTED: ResponseBody<'requestPasswordReset', 202> = {
  message: 'if the address belongs to a user, a mail with a password reset token is on its way',
};

/**
 * POST /api/tokens (log in with Basic credentials), DELETE /api/tokens (log out), and
 * /api/tokens/reset (a password reset token by mail, then a new password with it).
 */
export function tokenRoutes(db: Knex, { tokenTtlSeconds, passwordMinLength, passwordResets, passwordResetLimits }: TokenRoutesOptions): Router {
  const router = Router({ caseSensitive: true });
  const checkPassword = passwordRule(passwordMinLength);

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

  router.post(
    '/api/tokens/reset',
    operation('requestPasswordReset', async (req, res) => {
      const { email } = req.body;
      await passwordResetLimits.check(req, email);
      // The lookup and the mail come after the answer, which is thus the same, in the same
      // time, for any address.
      passwordResets.request(email, { reqId: req.id });
      res.status(202).set('Cache-Control', 'no-store').json(RESET_ACCEPTED);
    }),
  );

  router.put(
    '/api/tokens/reset',
    operation('resetPassword', async (req, res) => {
      const { token, password } = req.body;
      checkPassword(password);
      await passwordResets.reset(token, password);
      res.status(204).end();
    }),
  );

  return router;
}
