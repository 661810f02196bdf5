import type { Knex } from 'knex';

/** A notification as the API shows it (the contract's Notification). */
export interface NotificationRow {
  id: number;
  name: 'unread_message_count' | 'new_follower' | 'new_post_in_feed';
  data: number;
  /** UTC, ISO 8601 with microseconds, as PostgreSQL keeps it. */
  timestamp: string;
}

export type NotificationName = NotificationRow['name'];

/** The columns, as the contract names them; the time written by PostgreSQL to the microsecond. */
const COLUMNS = `id, name, data, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS timestamp`;

const parse = (row: { id: string; name: NotificationName; data: string; timestamp: string }): NotificationRow => ({
  id: Number(row.id),
  name: row.name,
  data: Number(row.data),
  timestamp: row.timestamp,
});

/**
 * SQL for notifications (db/migrations/20261202060000_notifications.ts): at most one row per
 * user and kind, written by triggers; a user's rows are one range of the primary key.
 */
export const notificationsRepository = {
  /** `userId`'s notifications changed after `sinceMicros` (microseconds since 1970; all when null), oldest first. */
  async since(db: Knex, userId: number, sinceMicros: bigint | null): Promise<NotificationRow[]> {
    const after = sinceMicros === null ? '' : `AND created_at > 'epoch'::timestamptz + ?::bigint * interval '1 microsecond'`;
    const { rows } = await db.raw(`SELECT ${COLUMNS} FROM notifications WHERE user_id = ? ${after} ORDER BY id`, [
      userId,
      ...(sinceMicros === null ? [] : [sinceMicros.toString()]),
    ]);
    return rows.map(parse);
  },

  /** `userId`'s notifications whose id is above `afterId`, in id order: a stream's next events. */
  async after(db: Knex, userId: number, afterId: string): Promise<NotificationRow[]> {
    const { rows } = await db.raw(`SELECT ${COLUMNS} FROM notifications WHERE user_id = ? AND id > ?::bigint ORDER BY id`, [userId, afterId]);
    return rows.map(parse);
  },

  /** `userId` has read its followers: new_follower back to 0 (one statement; nothing written when it is 0). */
  async followersSeen(db: Knex, userId: number): Promise<void> {
    await db.raw("SELECT notifications_seen(?, 'new_follower')", [userId]);
  },

  /** `userId` was shown its feed down from `top`: new_post_in_feed counts the posts above it. */
  async feedSeen(db: Knex, userId: number, top: { createdAt: Date; id: number }): Promise<void> {
    await db.raw('SELECT notifications_feed_seen(?, ?, ?)', [userId, top.createdAt, top.id]);
  },
};
