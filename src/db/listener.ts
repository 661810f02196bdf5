import pg from 'pg';
import type { Logger } from '../logger.js';

export interface ListenerOptions {
  url: string;
  channel: string;
  /** Each notification's payload, as it arrives. */
  onNotify(payload: string): void;
  /**
   * The listener is (again) connected and listening: notifications sent while it was not
   * were lost, so whoever waits for them reads what they would have said.
   */
  onListening(): void;
  logger: Logger;
  connectTimeoutMs?: number;
  keepAliveDelayMs?: number;
}

export interface Listener {
  /** Resolves once LISTEN is in effect (at once when it already is). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

const RETRY_MS = [250, 1000, 2000, 5000];

/**
 * One connection of its own that LISTENs on `channel`, outside the pool: a pooled connection
 * goes back to others between statements, and PgBouncer in transaction mode cannot LISTEN at
 * all (NOTIFICATIONS_DATABASE_URL then names the database directly). A lost connection is
 * made again, after a pause that grows to 5 seconds, until `close()`.
 */
export function startListener({ url, channel, onNotify, onListening, logger, connectTimeoutMs = 3000, keepAliveDelayMs = 10_000 }: ListenerOptions): Listener {
  let closed = false;
  let client: pg.Client | undefined;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let listening: Promise<void>;
  let resolveListening: () => void = () => undefined;
  const waitForListening = () => {
    listening = new Promise<void>((resolve) => {
      resolveListening = resolve;
    });
  };
  waitForListening();

  const connect = async () => {
    timer = undefined;
    if (closed) return;
    const next = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: connectTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: keepAliveDelayMs,
      // What pg_stat_activity shows, unless the URL names the application itself.
      fallback_application_name: `microblog-api ${channel} listener`,
    });
    client = next;
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      next.end().catch(() => undefined);
      if (closed) return;
      logger.warn({ err, channel }, 'notification listener lost its connection; connecting again');
      waitForListening();
      retry();
    };
    next.on('error', onLost);
    next.on('end', () => onLost());
    next.on('notification', (message) => {
      if (message.channel === channel) onNotify(message.payload ?? '');
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (err) {
      onLost(err as Error);
      return;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    if (failures > 0) logger.info({ channel }, 'notification listener connected again');
    failures = 0;
    resolveListening();
    onListening();
  };

  const retry = () => {
    const delay = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)] as number;
    failures++;
    timer = setTimeout(() => void connect(), delay);
    timer.unref();
  };

  void connect();
  return {
    ready: () => listening,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      resolveListening();
      await client?.end().catch(() => undefined);
    },
  };
}
