import { Router } from 'express';
import type { Knex } from 'knex';
import { authOf } from '../http/authentication.js';
import { sendRepresentation } from '../http/caching.js';
import { AUTH_REALM, HttpError, notFound } from '../http/http-error.js';
import { operation, type ResponseBody } from '../http/operations.js';
import { idPageRequest } from '../http/pagination.js';
import { collection } from '../representations/collections.js';
import { links, toSession } from '../representations/resources.js';
import { endSession, listSessions, refreshSession, startSession, type SessionSettings } from '../services/sessions.js';

const INVALID_REFRESH_TOKEN = 'the refresh token is invalid or has expired';

/**
 * /api/tokens: log in (a new session), refresh, list one's sessions, log out here
 * (DELETE /api/tokens) or anywhere (DELETE /api/tokens/{session_id}).
 */
export function tokenRoutes(db: Knex, settings: SessionSettings): Router {
  const router = Router({ caseSensitive: true });

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

  return router;
}
