import { Router } from 'express';
import type { Knex } from 'knex';
import { notificationsRepository } from '../db/notifications.js';
import { authOf } from '../http/authentication.js';
import { sendRepresentation } from '../http/caching.js';
import { badRequest, HttpError } from '../http/http-error.js';
import { operation } from '../http/operations.js';
import type { Logger } from '../logger.js';
import { links } from '../representations/resources.js';
import type { Request, Response } from 'express';
import type { NotificationHub, Subscription } from '../services/notifications.js';

export interface NotificationStreamConfig {
  heartbeatSeconds: number;
  streamMaxSeconds: number;
}

/**
 * `since` as microseconds after 1970: exact to the microsecond the timestamps carry, and
 * never handed to PostgreSQL's own date parser (a year 0000 the contract's format allows
 * is out of its range).
 */
export function sinceMicros(value: string): bigint {
  const fraction = /\.(\d+)/.exec(value)?.[1] ?? '';
  const wholeMs = Date.parse(value.replace(/\.\d+/, ''));
  if (!Number.isFinite(wholeMs)) throw badRequest(`since (query): not a date-time: ${JSON.stringify(value)}`);
  return BigInt(wholeMs) * 1000n + BigInt(fraction.padEnd(6, '0').slice(0, 6));
}

/** GET /api/notifications and GET /api/notifications/stream. */
export function notificationRoutes(db: Knex, hub: NotificationHub | undefined, config: NotificationStreamConfig, logger: Logger): Router {
  const router = Router({ caseSensitive: true });

  router.get(
    '/api/notifications',
    operation('listNotifications', async (req, res) => {
      const { since } = req.query;
      const rows = await notificationsRepository.since(db, authOf(req).user.id, since === undefined ? null : sinceMicros(since));
      sendRepresentation(req, res, { data: rows, _links: { self: links.notifications, stream: links.notificationStream } });
    }),
  );

  router.get(
    '/api/notifications/stream',
    operation('streamNotifications', async (req, res) => {
      if (!hub) throw new HttpError(503, 'live notifications are not available on this instance');
      const lastEventId = req.header('last-event-id');
      const seconds = Math.min(req.query.timeout ?? config.streamMaxSeconds, config.streamMaxSeconds);
      await stream({ db, hub, logger, req: req as unknown as Request, res, userId: authOf(req).user.id, after: lastEventId ?? '0', seconds, heartbeatSeconds: config.heartbeatSeconds });
    }),
  );

  return router;
}

interface StreamOptions {
  db: Knex;
  hub: NotificationHub;
  logger: Logger;
  req: Request;
  res: Response;
  userId: number;
  /** The id of the last event the client has (Last-Event-ID), or 0. */
  after: string;
  seconds: number;
  heartbeatSeconds: number;
}

/**
 * Server-Sent Events (https://html.spec.whatwg.org/multipage/server-sent-events.html): the
 * user's notifications after `after`, then each change as the hub reports it, one reader at
 * a time (a change reported during a read is read again after it), with heartbeats, until
 * `seconds` pass, the client goes, or the instance stops.
 */
async function stream({ db, hub, logger, req, res, userId, after, seconds, heartbeatSeconds }: StreamOptions): Promise<void> {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    // nginx passes each event on as it comes rather than filling a buffer first.
    'X-Accel-Buffering': 'no',
  });
  res.write('retry: 3000\n\n');

  let last = after;
  let ended = false;
  let reading = false;
  let again = false;
  // Set once subscribed; the stream may end before (the client gone, the instance stopping).
  const held: { subscription?: Subscription } = {};
  const timers: NodeJS.Timeout[] = [];
  const end = () => {
    if (ended) return;
    ended = true;
    for (const timer of timers) clearInterval(timer);
    held.subscription?.close();
    res.end();
  };
  const read = async () => {
    if (ended) return;
    if (hub.closing) return end();
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        const rows = await notificationsRepository.after(db, userId, last);
        for (const row of rows) {
          if (ended) return;
          res.write(`id: ${row.id}\ndata: ${JSON.stringify(row)}\n\n`);
          last = String(row.id);
        }
      } while (again && !ended);
    } catch (err) {
      // The client reconnects with the last id it got and misses nothing.
      logger.warn({ err, reqId: req.id, userId }, 'notification stream ended: its read failed');
      end();
    } finally {
      reading = false;
    }
  };

  res.on('close', end);
  timers.push(setTimeout(end, seconds * 1000));
  timers.push(setInterval(() => !ended && res.write(': heartbeat\n\n'), heartbeatSeconds * 1000));
  held.subscription = await hub.subscribe(userId, () => void read());
  if (ended) held.subscription.close();
  await read();
}
