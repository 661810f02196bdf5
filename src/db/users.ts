import type { Knex } from 'knex';
import { rowCount } from './counts.js';
import { queryRows, type Db } from './database.js';
import { PUBLIC_USER_COLUMNS, type PublicUserRow, type UserRow } from './tables.js';

const FIND_BY_ID = `SELECT ${PUBLIC_USER_COLUMNS.join(', ')} FROM users WHERE id = $1`;
const FIND_BY_EMAIL = `SELECT ${PUBLIC_USER_COLUMNS.join(', ')} FROM users WHERE lower(email) = lower($1::text)`;

/** Where a page of a list ordered by id starts: after an id (constant cost), or at an offset. */
export interface Page {
  afterId?: number;
  offset: number;
  limit: number;
}

export interface NewUserRow {
  username: string;
  email: string;
  password_hash: string;
  about_me: string | null;
}

export type UserChanges = Partial<Pick<UserRow, 'username' | 'email' | 'about_me' | 'password_hash'>>;

/** SQL for users. Functions take a Knex instance or a transaction and return rows. */
export const usersRepository = {
  /** A user by id (most requests read one). */
  async findById(db: Db, id: number): Promise<PublicUserRow | undefined> {
    const [row] = await queryRows<PublicUserRow>(db, FIND_BY_ID, [id]);
    return row;
  },

  /** Locks the row until the transaction ends. */
  findByIdForUpdate(trx: Knex.Transaction, id: number): Promise<UserRow | undefined> {
    return trx<UserRow>('users').where({ id }).forUpdate().first();
  },

  /**
   * The user a login names (username or email address, in any case), and the login as the
   * database compares it: lower() under the database's locale, the same for every spelling
   * that finds the same user (usernames cannot contain "@").
   */
  async findByLogin(db: Knex, login: string): Promise<{ user: UserRow | undefined; folded: string }> {
    const column = login.includes('@') ? 'email' : 'username';
    const { rows } = await db.raw<{ rows: (UserRow & { folded_login: string })[] }>(
      `SELECT lower(CAST(? AS text)) AS folded_login, users.*
         FROM (VALUES (1)) AS one LEFT JOIN users ON lower(users.${column}) = lower(CAST(? AS text))`,
      [login, login],
    );
    // A LEFT JOIN from one row: always one row, with nulls when no user matched.
    const { folded_login: folded, ...user } = rows[0] as UserRow & { folded_login: string };
    return { user: user.id === null ? undefined : user, folded };
  },

  /** The user with this email address, in any case. */
  async findByEmail(db: Db, email: string): Promise<PublicUserRow | undefined> {
    const [row] = await queryRows<PublicUserRow>(db, FIND_BY_EMAIL, [email]);
    return row;
  },

  async create(db: Knex, user: NewUserRow): Promise<UserRow> {
    const [row] = await db<UserRow>('users').insert(user).returning('*');
    return row as UserRow;
  },

  async update(db: Knex, id: number, changes: UserChanges): Promise<UserRow> {
    const [row] = await db<UserRow>('users').where({ id }).update(changes).returning('*');
    return row as UserRow;
  },

  /** Moves last_seen to now unless it moved in the last minute; returns the new value if it did. */
  async touchLastSeen(db: Knex, id: number): Promise<Date | undefined> {
    const [row] = await db<UserRow>('users')
      .where({ id })
      .andWhereRaw("last_seen < now() - interval '1 minute'")
      .update({ last_seen: db.fn.now() as unknown as Date })
      .returning('last_seen');
    return row?.last_seen;
  },

  /** A page of all users by id. */
  list(db: Knex, page: Page): Promise<PublicUserRow[]> {
    const query = db<UserRow>('users').select<PublicUserRow[]>([...PUBLIC_USER_COLUMNS]).orderBy('id').limit(page.limit);
    if (page.afterId === undefined) query.offset(page.offset);
    else query.where('id', '>', page.afterId);
    return query;
  },

  /** How many users there are (kept by a trigger: nothing is counted). */
  count(db: Knex): Promise<number> {
    return rowCount(db, 'users');
  },

  /**
   * The users who follow `id` ('followers') or whom `id` follows ('followed'), by id;
   * the total is the user's follower_count or followed_count.
   */
  related(db: Knex, id: number, direction: 'followers' | 'followed', page: Page): Promise<PublicUserRow[]> {
    const [self, other] = direction === 'followers' ? ['followed_id', 'follower_id'] : ['follower_id', 'followed_id'];
    const query = db<UserRow>('follows as f')
      .join('users as u', 'u.id', `f.${other}`)
      .where(`f.${self}`, id)
      .orderBy(`f.${other}`)
      .limit(page.limit)
      .select(PUBLIC_USER_COLUMNS.map((c) => `u.${c}`));
    if (page.afterId === undefined) query.offset(page.offset);
    else query.andWhere(`f.${other}`, '>', page.afterId);
    return query;
  },
};
