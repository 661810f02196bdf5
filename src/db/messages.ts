import type { Knex } from 'knex';
import type { TimelinePage } from './posts.js';
import type { MessageRow } from './tables.js';

/** A page of one user's received or sent messages, newest first, as posts.ts reads timelines. */
async function page(query: Knex.QueryBuilder, { position, offset, limit }: TimelinePage): Promise<MessageRow[]> {
  let order: 'asc' | 'desc' = 'desc';
  if (position) {
    const [op, at] = 'newer' in position ? (['>', position.newer] as const) : (['<', position.older] as const);
    if (op === '>') order = 'asc';
    query.whereRaw(`(created_at, id) ${op} (?, ?)`, [at.createdAt, at.id]);
  }
  const rows: MessageRow[] = await query
    .orderBy([
      { column: 'created_at', order },
      { column: 'id', order },
    ])
    .offset(position ? 0 : offset)
    .limit(limit);
  return order === 'asc' ? rows.reverse() : rows;
}

const SIDE = { received: 'recipient_id', sent: 'sender_id' } as const;

/**
 * SQL for private messages. A user's received messages and its sent ones are each one range
 * of an index (messages_recipient_created_idx, messages_sender_created_idx): a page and its
 * total read nothing else; the unread count is kept on the recipient (see the migration).
 */
export const messagesRepository = {
  async create(db: Knex, senderId: number, recipientId: number, body: string): Promise<MessageRow> {
    const [row] = await db<MessageRow>('messages').insert({ sender_id: senderId, recipient_id: recipientId, body }).returning('*');
    return row as MessageRow;
  },

  /** The message if `userId` sent or received it; to anyone else it does not exist. */
  findFor(db: Knex, id: number, userId: number): Promise<MessageRow | undefined> {
    return db<MessageRow>('messages')
      .where({ id })
      .andWhere((q) => q.where({ sender_id: userId }).orWhere({ recipient_id: userId }))
      .first();
  },

  /** A page of the messages `userId` received or sent, newest first (ties by id). */
  list(db: Knex, side: keyof typeof SIDE, userId: number, at: TimelinePage): Promise<MessageRow[]> {
    return page(db<MessageRow>('messages').select('*').where(SIDE[side], userId), at);
  },

  /** How many messages `userId` received or sent (an index-only count of its range). */
  async count(db: Knex, side: keyof typeof SIDE, userId: number): Promise<number> {
    const [row] = await db<MessageRow>('messages').where(SIDE[side], userId).count<{ n: string }[]>({ n: '*' });
    return Number(row?.n ?? 0);
  },

  /** Marks every message `userId` received until now as read: its unread count starts again from 0. */
  async markRead(db: Knex, userId: number): Promise<void> {
    await db('users').where({ id: userId }).update({ last_message_read_time: db.fn.now(), unread_message_count: 0 });
  },
};
