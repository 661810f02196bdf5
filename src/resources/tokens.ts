import { Router } from 'express';
import type { Knex } from 'knex';
import { authOf } from '../http/authentication.js';
import { sendRepresentation } from '../http/caching.js';
import { AUTH_REALM, HttpError, notFound } from '../http/http-error.js';
import { operation, type ResponseBody } from '../http/operations.js';
import { idPageRequest } from '../http/pagination.js';
import type { PasswordResetLimits } from '../http/rate-limit.js';
import { collection } from '../representations/collections.js';
import { links, toSession } from '../representations/resources.js';
import type { PasswordResets } from '../services/password-reset.js';
import { endSession, getSession, listSessions, refreshSession, startSession, type SessionSettings } from '../services/sessions.js';
import { passwordRule } from './users.js';

export interface TokenRoutesOptions {
  sessions: SessionSettings;
  passwordMinLength: number;
  passwordResets: PasswordResets;
  passwordResetLimits: PasswordResetLimits;
}

const INVALID_REFRESH_TOKEN = 'the refresh token is invalid or has expired';

/** The one answer to every accepted request for a reset mail, known address or not. */
const RESET_ACCEPTED: ResponseBody<'requestPasswordReset', 202> = {
  message: 'if the address belongs to a user, a mail with a password reset token is on its way',
};

/**
 * /api/tokens: log in (a new session), refresh, list one's sessions or read one, log out here
 * (DELETE /api/tokens) or anywhere (DELETE /api/tokens/{session_id}); and /api/tokens/reset
 * (a password reset token by mail, then a new password with it).
 */
export function tokenRoutes(db: Knex, { sessions: settings, passwordMinLength, passwordResets, passwordResetLimits }: TokenRoutesOptions): Router {
  const router = Router({ caseSensitive: true });
  const checkPassword = passwordRule(passwordMinLength);

  router.post(
    '/api/tokens',
    operation('createToken', async (req, res) => {
      const { user } = authOf(req);
      const pair = await startSession(db, user.id, req.body?.device ?? null, settings);
      const body: ResponseBody<'createToken', 200> = pair;
      res.json(body);
    }),
  );

  router.post(
    '/api/tokens/refresh',
    operation('refreshToken', async (req, res) => {
      const outcome = await refreshSession(db, req.body.refresh_token, settings);
      // The challenge every other 401 of the API carries (RFC 9110 requires one): what
      // comes next is a login, then bearer tokens.
      if ('refused' in outcome) throw new HttpError(401, INVALID_REFRESH_TOKEN, { 'WWW-Authenticate': `Bearer realm="${AUTH_REALM}"` });
      const body: ResponseBody<'refreshToken', 200> = outcome.pair;
      res.json(body);
    }),
  );

  router.get(
    '/api/tokens',
    operation('listSessions', async (req, res) => {
      const { user, sessionId } = authOf(req);
      const page = idPageRequest(req.query);
      const [rows, total] = await listSessions(db, user.id, page);
      sendRepresentation(req, res, collection(rows.map((row) => toSession(row, sessionId)), total, page, links.tokens));
    }),
  );

  router.delete(
    '/api/tokens',
    operation('revokeToken', async (req, res) => {
      const { user, sessionId } = authOf(req);
      if (sessionId !== null) await endSession(db, user.id, sessionId);
      res.status(204).end();
    }),
  );

  router.get(
    '/api/tokens/:session_id',
    operation('getSession', async (req, res) => {
      const { user, sessionId } = authOf(req);
      const { session_id } = req.params;
      // As for DELETE: another user's session is as missing as one that never was.
      const row = await getSession(db, user.id, session_id);
      if (!row) throw notFound(`session ${session_id}`);
      const body: ResponseBody<'getSession', 200> = toSession(row, sessionId);
      sendRepresentation(req, res, body);
    }),
  );

  router.delete(
    '/api/tokens/:session_id',
    operation('endSession', async (req, res) => {
      const { user } = authOf(req);
      const { session_id } = req.params;
      // Another user's session is as missing as one that never was: its existence is not told.
      if (!(await endSession(db, user.id, session_id))) throw notFound(`session ${session_id}`);
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
