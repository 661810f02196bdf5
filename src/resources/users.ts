import { Router } from 'express';
import type { Knex } from 'knex';
import { usersRepository, type UserChanges } from '../db/users.js';
import { authOf } from '../http/authentication.js';
import { checkIfMatch, etagOf, sendRepresentation } from '../http/caching.js';
import { badRequest, forbidden, notFound } from '../http/http-error.js';
import { ANONYMOUS, idempotent } from '../services/idempotency.js';
import { endOtherSessions } from '../services/sessions.js';
import { readPage } from '../db/pages.js';
import { idPageRequest, searchRequest } from '../http/pagination.js';
import { idCollection, searchResults } from '../representations/collections.js';
import { searchRepository } from '../db/search.js';
import { operation, sendAnswer } from '../http/operations.js';
import { links, toUser } from '../representations/resources.js';
import { hashPassword, verifyPassword } from '../security/passwords.js';

export interface UserRoutesOptions {
  passwordMinLength: number;
}

/**
 * The rule on a new password beyond the contract's (8–128 characters): PASSWORD_MIN_LENGTH,
 * in characters rather than UTF-16 units. Registration, a password change and a reset.
 */
export function passwordRule(passwordMinLength: number): (password: string) => void {
  return (password) => {
    if ([...password].length < passwordMinLength) {
      throw badRequest(`password: must be at least ${passwordMinLength} characters long`);
    }
  };
}

/** /api/users and /api/users/{id}: registration, listing, reading and updating users. */
export function userRoutes(db: Knex, { passwordMinLength }: UserRoutesOptions): Router {
  const router = Router({ caseSensitive: true });

  const checkPassword = passwordRule(passwordMinLength);

  router.get(
    '/api/users',
    operation('listUsers', async (req, res) => {
      const viewer = authOf(req).user.id;
      const { q } = req.query;
      if (q !== undefined) {
        const at = searchRequest({ ...req.query, q });
        const { rows, total } = await searchRepository.users(db, { ...at, viewerId: viewer, limit: at.limit + 1 });
        sendRepresentation(req, res, searchResults(rows, total, at, links.users, (row) => toUser(row, viewer)));
        return;
      }
      const page = idPageRequest(req.query);
      const [rows, total] = await readPage(
        page,
        () => usersRepository.count(db),
        () => usersRepository.list(db, { ...page, limit: page.limit + 1 }),
      );
      sendRepresentation(req, res, idCollection(rows, total, page, links.users, (row) => toUser(row, viewer), (row) => row.id));
    }),
  );

  router.post(
    '/api/users',
    operation('createUser', async (req, res) => {
      const { username, email, password, about_me } = req.body;
      checkPassword(password);
      const passwordHash = await hashPassword(password);
      const answer = await idempotent(db, req, ANONYMOUS, async (trx) => {
        // The unique indexes decide between racing registrations; a loser gets a 400.
        const row = await usersRepository.create(trx, { username, email, password_hash: passwordHash, about_me: about_me ?? null });
        // A new user has received no message yet.
        const user = toUser(row, row.id, true, 0);
        return { status: 201, headers: { Location: links.user(row.id), ETag: etagOf(user) }, body: user };
      });
      sendAnswer(res, answer);
    }),
  );

  router.get(
    '/api/users/:id',
    operation('getUser', async (req, res) => {
      const viewer = authOf(req).user;
      const { id } = req.params;
      if (id === viewer.id) {
        // One's own record also says how many messages arrived since one last read them.
        sendRepresentation(req, res, toUser(viewer, viewer.id, false, viewer.unread_message_count));
        return;
      }
      const row = await usersRepository.findById(db, id);
      if (!row) throw notFound(`user ${id}`);
      sendRepresentation(req, res, toUser(row, viewer.id));
    }),
  );

  router.put(
    '/api/users/:id',
    operation('updateUser', async (req, res) => {
      const auth = authOf(req);
      const { id } = req.params;
      if (auth.user.id !== id) throw forbidden('you can only change your own user');
      const { username, email, about_me, password, current_password } = req.body;
      if (password !== undefined) {
        if (current_password === undefined) throw badRequest('current_password: is required to change the password');
        checkPassword(password);
      }
      const newHash = password !== undefined ? await hashPassword(password) : undefined;

      const updated = await db.transaction(async (trx) => {
        const current = await usersRepository.findByIdForUpdate(trx, id);
        if (!current) throw notFound(`user ${id}`);
        const unread = current.unread_message_count;
        // This request's own move of last_seen is not a change the client missed.
        checkIfMatch(req, [
          etagOf(toUser(current, id)),
          etagOf(toUser({ ...current, last_seen: auth.lastSeenBefore }, id)),
          // The record as GET /api/users/{id} gives it to its owner, with its unread count.
          etagOf(toUser(current, id, false, unread)),
          etagOf(toUser({ ...current, last_seen: auth.lastSeenBefore }, id, false, unread)),
        ]);
        if (current_password !== undefined && password !== undefined) {
          if (!(await verifyPassword(current.password_hash, current_password))) {
            throw forbidden('current_password is not the present password');
          }
        }
        const changes: UserChanges = {};
        if (username !== undefined) changes.username = username;
        if (email !== undefined) changes.email = email;
        if (about_me !== undefined) changes.about_me = about_me;
        if (newHash !== undefined) changes.password_hash = newHash;
        if (Object.keys(changes).length === 0) return current;
        const row = await usersRepository.update(trx, id, changes);
        // Whoever else held the old password is logged out everywhere; the device that changed it stays.
        if (newHash !== undefined) await endOtherSessions(trx, id, auth.sessionId);
        return row;
      });
      res.json(toUser(updated, id, false, updated.unread_message_count));
    }),
  );

  return router;
}
