import { startListener, type Listener } from '../db/listener.js';
import type { Logger } from '../logger.js';

/** The channel the notifications migration's triggers NOTIFY on, with the user's id as payload. */
export const CHANNEL = 'notifications';

/** A stream's side of the hub: told when its user's notifications may have changed. */
export interface Subscription {
  /** Stops the calls to `changed`. */
  close(): void;
}

/**
 * Where an instance's open notification streams wait for their users' changes, made on any
 * instance: PostgreSQL tells every listener at commit (LISTEN/NOTIFY, see the migration),
 * and the hub calls the streams of that user, which read what changed after their last id.
 */
export interface NotificationHub {
  /** Resolves once changes to `userId` reach `changed`: a read made after it misses none. */
  subscribe(userId: number, changed: () => void): Promise<Subscription>;
  /** Ends every stream (shutdown): each `changed` gets `closing` true; then stops listening. */
  close(): Promise<void>;
  readonly closing: boolean;
}

export interface NotificationHubOptions {
  /** Where to LISTEN: the database itself, never through PgBouncer in transaction mode. */
  url: string;
  logger: Logger;
  connectTimeoutMs?: number;
  keepAliveDelayMs?: number;
}

/** A hub that connects its listener with its first subscriber, and keeps it until `close()`. */
export function createNotificationHub({ url, logger, connectTimeoutMs, keepAliveDelayMs }: NotificationHubOptions): NotificationHub {
  const byUser = new Map<number, Set<() => void>>();
  let listener: Listener | undefined;
  let closing = false;

  const call = (callbacks: Iterable<() => void>) => {
    for (const changed of [...callbacks]) changed();
  };

  return {
    get closing() {
      return closing;
    },
    async subscribe(userId, changed) {
      listener ??= startListener({
        url,
        channel: CHANNEL,
        logger,
        connectTimeoutMs,
        keepAliveDelayMs,
        onNotify: (payload) => {
          const callbacks = byUser.get(Number(payload));
          if (callbacks) call(callbacks);
        },
        // Whatever was sent while the connection was down: every stream reads again.
        onListening: () => call([...byUser.values()].flatMap((set) => [...set])),
      });
      let callbacks = byUser.get(userId);
      if (!callbacks) byUser.set(userId, (callbacks = new Set()));
      const own = () => changed();
      callbacks.add(own);
      await listener.ready();
      return {
        close() {
          if (callbacks.delete(own) && callbacks.size === 0 && byUser.get(userId) === callbacks) byUser.delete(userId);
        },
      };
    },
    async close() {
      closing = true;
      call([...byUser.values()].flatMap((set) => [...set]));
      await listener?.close();
    },
  };
}
