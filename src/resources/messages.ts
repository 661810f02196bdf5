import { Router, type Request, type Response } from 'express';
import type { Knex } from 'knex';
import { blocksRepository } from '../db/blocks.js';
import { messagesRepository } from '../db/messages.js';
import { readPage } from '../db/pages.js';
import { authOf } from '../http/authentication.js';
import { etagOf, sendRepresentation } from '../http/caching.js';
import { badRequest, forbidden, notFound } from '../http/http-error.js';
import { operation, sendAnswer, type ValidRequest } from '../http/operations.js';
import { timelineRequest } from '../http/pagination.js';
import type { MessageLimits } from '../http/rate-limit.js';
import { timeline } from '../representations/collections.js';
import { links, toMessage } from '../representations/resources.js';
import { idempotent } from '../services/idempotency.js';

/** Runs `work` in `db` when it is a transaction already (an Idempotency-Key's), else in one of its own. */
const inTransaction = <T>(db: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> =>
  db.isTransaction ? work(db as Knex.Transaction) : db.transaction(work);

/** /api/users/{id}/messages, /api/messages, /api/messages/sent and /api/messages/{id}. */
export function messageRoutes(db: Knex, limits: MessageLimits): Router {
  const router = Router({ caseSensitive: true });

  router.post(
    '/api/users/:id/messages',
    operation('sendMessage', async (req, res) => {
      const sender = authOf(req).user.id;
      const recipient = req.params.id;
      if (recipient === sender) throw badRequest('you cannot message yourself');
      await limits.check(req as unknown as Request, sender);
      const answer = await idempotent(db, req, sender, (conn) =>
        inTransaction(conn, async (trx) => {
          // The recipient's row, locked: a block by the recipient under way is waited for and
          // then seen; one that comes after waits for this message (db/blocks.ts).
          if (!(await blocksRepository.lockRecipient(trx, recipient))) throw notFound(`user ${recipient}`);
          if (await blocksRepository.isBlocked(trx, recipient, sender)) {
            throw forbidden(`you cannot message user ${recipient}, who has blocked you`);
          }
          const row = await messagesRepository.create(trx, sender, recipient, req.body.body.trim());
          const message = toMessage(row);
          return { status: 201, headers: { Location: links.message(row.id), ETag: etagOf(message) }, body: message };
        }),
      );
      sendAnswer(res, answer);
    }),
  );

  const list =
    (side: 'received' | 'sent') =>
    async (req: ValidRequest<'listMessages' | 'listSentMessages'>, res: Response) => {
      const me = authOf(req).user.id;
      const at = timelineRequest(req.query);
      // Reading one's received messages marks them read (the unread count starts again from 0),
      // before the list is read: a message that arrives in between is shown and still counted
      // unread, never counted read without having been shown.
      if (side === 'received') await messagesRepository.markRead(db, me);
      const [rows, total] = await readPage(
        at,
        () => messagesRepository.count(db, side, me),
        () => messagesRepository.list(db, side, me, { ...at, limit: at.limit + 1 }),
      );
      sendRepresentation(req, res, timeline(rows, total, at, side === 'received' ? links.messages : links.sentMessages, toMessage));
    };
  router.get('/api/messages', operation('listMessages', list('received')));
  // Before /api/messages/:id, which would take "sent" for an id.
  router.get('/api/messages/sent', operation('listSentMessages', list('sent')));

  router.get(
    '/api/messages/:id',
    operation('getMessage', async (req, res) => {
      // A message between others is as missing as one that never was.
      const row = await messagesRepository.findFor(db, req.params.id, authOf(req).user.id);
      if (!row) throw notFound(`message ${req.params.id}`);
      sendRepresentation(req, res, toMessage(row));
    }),
  );

  return router;
}
