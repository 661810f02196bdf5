import { passwordResetsRepository } from '../../src/db/password-resets.js';
import { hashToken, newToken } from '../../src/security/tokens.js';
import { basic, createUser, login } from '../support/factories.js';
import { until } from '../support/wait.js';
import type { TestServer } from '../support/server.js';

/** A user the fuzzer registered, with what it needs to act as it. */
export interface Account {
  id: number;
  username: string;
  email: string;
  password: string;
  /** A live token, once the fuzzer has logged the account in. */
  token?: string;
}

/** Which kind of resource a path parameter names, by its name under components/parameters. */
export type ResourceKind = 'user' | 'post' | 'export' | 'session' | 'message';

const TABLES: Record<ResourceKind, string> = { user: 'users', post: 'posts', export: 'exports', session: 'sessions', message: 'messages' };

/**
 * What the fuzzer knows of the server's state: the accounts it can act as, the posts and
 * their authors, the Idempotency-Keys it used. Only valid requests that succeeded change
 * it. Oracles that decide whether a refusal was genuine ask the database itself.
 */
export class World {
  readonly accounts: Account[] = [];
  readonly posts = new Map<number, number>();
  /** Sessions the fuzzer started besides those whose tokens its accounts act with (anyone's). */
  readonly sessions = new Set<number>();
  /** Exports asked for, by id → the user who asked. */
  readonly exports = new Map<number, number>();
  /** Messages sent, by id → [sender, recipient]. */
  readonly messages = new Map<number, [number, number]>();
  /** `${principal} ${key}` → the canonical JSON of the body first sent with it. */
  readonly idempotencyKeys = new Map<string, string>();
  revokedToken = '';
  expiredToken = '';

  constructor(readonly server: TestServer) {}

  /** A few users with posts and a follow, a revoked token and an expired one. */
  async setUp(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const user = await createUser(this.server, { password: `fuzz password ${i} ✓` });
      this.accounts.push({
        id: user.id,
        username: user.username,
        email: user.email,
        password: user.password,
        token: user.token,
      });
    }
    for (const account of this.accounts) {
      await this.newPost(account);
      await this.newPost(account);
    }
    const [first, second] = this.accounts as [Account, Account];
    await this.expect(204, 'PUT', `/api/users/${first.id}/followed/${second.id}`, first);
    await this.newMessage(first, second.id);
    this.revokedToken = await this.freshToken(first);
    await this.expect(204, 'DELETE', '/api/tokens', { token: this.revokedToken });
    const token = await this.freshToken(first);
    await this.server.db('tokens').where({ token_hash: hashToken(token) }).update({ expires_at: this.server.db.raw("now() - interval '1 second'") });
    this.expiredToken = token;
  }

  actors(): Account[] {
    return this.accounts.filter((a) => a.token !== undefined);
  }

  /** The ids that exist of a kind, as far as the fuzzer knows. */
  ids(kind: ResourceKind): number[] {
    if (kind === 'user') return this.accounts.map((a) => a.id);
    if (kind === 'session') return [...this.sessions];
    if (kind === 'message') return [...this.messages.keys()];
    return [...(kind === 'post' ? this.posts : this.exports).keys()];
  }

  postsOf(author: Account): number[] {
    return [...this.posts].filter(([, by]) => by === author.id).map(([id]) => id);
  }

  /** Logs in through POST /api/tokens. */
  freshToken(account: Account): Promise<string> {
    return login(this.server, account.username, account.password);
  }

  /** A new session of the account (a login), never the one its token belongs to. */
  async freshSession(account: Account): Promise<number> {
    const id = (JSON.parse(await this.login(account)) as { session_id: number }).session_id;
    this.sessions.add(id);
    return id;
  }

  /** The refresh token of a new session of the account. */
  async freshRefreshToken(account: Account): Promise<string> {
    const answer = JSON.parse(await this.login(account)) as { session_id: number; refresh_token: string };
    this.sessions.add(answer.session_id);
    return answer.refresh_token;
  }

  private async login(account: Account): Promise<string> {
    const res = await this.server.fetch('/api/tokens', { method: 'POST', headers: { Authorization: this.basicAuth(account) } });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`arranging a login of ${account.username}: expected 200, got ${res.status} ${text}`);
    return text;
  }

  async newPost(author: Pick<Account, 'id' | 'token'>): Promise<number> {
    const res = await this.expect(201, 'POST', '/api/posts', author, {
      body: 'arranged by the fuzzer',
    });
    const id = (JSON.parse(res) as { id: number }).id;
    this.posts.set(id, author.id);
    return id;
  }

  /** An export of the account's posts, asked for and waited for until it is done. */
  async newExport(owner: Pick<Account, 'id' | 'token'>): Promise<number> {
    const res = await this.expect(202, 'POST', `/api/users/${owner.id}/exports`, owner);
    const id = (JSON.parse(res) as { id: number }).id;
    this.exports.set(id, owner.id);
    await until(`export ${id} done`, async () => (await this.exportOf(id))?.status === 'done', 20_000);
    return id;
  }

  /** A done export of the account's, made when it has none. */
  async doneExportOf(owner: Pick<Account, 'id' | 'token'>): Promise<number> {
    const done = await this.server.db('exports').where({ user_id: owner.id, status: 'done' }).first('id');
    return done ? (done.id as number) : this.newExport(owner);
  }

  /** A message from `sender` to `recipient`, sent whatever blocks the fuzzer made. */
  async newMessage(sender: Account, recipient: number): Promise<number> {
    await this.server.db('blocks').where({ blocker_id: recipient, blocked_id: sender.id }).delete();
    const text = await this.expect(201, 'POST', `/api/users/${recipient}/messages`, sender, { body: 'Hello from the fuzzer' });
    const id = (JSON.parse(text) as { id: number }).id;
    this.messages.set(id, [sender.id, recipient]);
    return id;
  }

  /** A message the account sent or received (one it sends when it has none). */
  async messageOf(account: Account): Promise<number> {
    for (const [id, [from, to]] of this.messages) if (from === account.id || to === account.id) return id;
    const other = this.accounts.find((a) => a.id !== account.id) as Account;
    return this.newMessage(account, other.id);
  }

  /** A message to the account from another one, which gives it a notification. */
  async messageTo(account: Account): Promise<number> {
    const other = this.accounts.find((a) => a.id !== account.id && a.token !== undefined) as Account;
    return this.newMessage(other, account.id);
  }

  /** Whether `blocker` blocks `blocked`. */
  async blocks(blocker: number, blocked: number): Promise<boolean> {
    return (await this.server.db('blocks').where({ blocker_id: blocker, blocked_id: blocked }).first()) !== undefined;
  }

  /** Whose each notification is, by id (ids with none left out). */
  async notificationOwners(ids: number[]): Promise<Map<number, number>> {
    const rows: { id: string | number; user_id: number }[] = ids.length ? await this.server.db('notifications').whereIn('id', ids).select('id', 'user_id') : [];
    return new Map(rows.map((row) => [Number(row.id), row.user_id]));
  }

  /** Who sent and who received a message; undefined when there is none. */
  async messageParties(id: number): Promise<{ sender_id: number; recipient_id: number } | undefined> {
    return this.server.db('messages').where({ id }).first('sender_id', 'recipient_id');
  }

  async follow(follower: Account, target: number): Promise<void> {
    // A block the fuzzer made would refuse the follow this arranges.
    await this.server.db('blocks').where({ blocker_id: target, blocked_id: follower.id }).delete();
    await this.expect(204, 'PUT', `/api/users/${follower.id}/followed/${target}`, follower);
  }

  /** An arranging request that must succeed: a failure here is a failure of the arrangement. */
  async expect(
    status: number,
    method: string,
    path: string,
    as: { token?: string } | null,
    json?: unknown,
  ): Promise<string> {
    const res = await this.server.fetch(path, {
      method,
      headers: {
        ...(as?.token ? { Authorization: `Bearer ${as.token}` } : {}),
        ...(json !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    });
    const text = await res.text();
    if (res.status !== status)
      throw new Error(`arranging ${method} ${path}: expected ${status}, got ${res.status} ${text}`);
    return text;
  }

  basicAuth(account: Account, by: 'username' | 'email' = 'username'): string {
    return basic(account[by], account.password);
  }

  // Oracles: what the database says, to tell a genuine refusal from a wrong one.

  async exists(kind: ResourceKind, id: number): Promise<boolean> {
    const query = this.server.db(TABLES[kind]).where({ id });
    // A session past its end is gone for the API, though its row waits for the next login or the hourly sweep.
    if (kind === 'session') query.andWhereRaw('expires_at > now()');
    return (await query.first('id')) !== undefined;
  }

  /** Who asked for an export, and how far it is; undefined when there is none. */
  async exportOf(id: number): Promise<{ user_id: number; status: string } | undefined> {
    return this.server.db('exports').where({ id }).first('user_id', 'status');
  }

  async follows(follower: number, followed: number): Promise<boolean> {
    return (
      (await this.server
        .db('follows')
        .where({ follower_id: follower, followed_id: followed })
        .first()) !== undefined
    );
  }

  /** Whether another user than `self` holds this username or email, without regard to case. */
  async taken(column: 'username' | 'email', value: string, self?: number): Promise<boolean> {
    const query = this.server.db('users').whereRaw(`lower(${column}) = lower(?)`, [value]);
    if (self !== undefined) query.andWhereNot({ id: self });
    return (await query.first('id')) !== undefined;
  }

  /** A live password reset token for the account, stored as POST /api/tokens/reset stores the one it mails. */
  async issueResetToken(account: Account): Promise<string> {
    const { token, hash } = newToken();
    await passwordResetsRepository.replace(this.server.db, account.id, hash, new Date(Date.now() + 900_000));
    return token;
  }

  /** Whether a password reset token is live: issued (mailed), unused and unexpired. */
  async liveResetToken(token: string): Promise<boolean> {
    return (
      (await this.server
        .db('password_resets')
        .where({ token_hash: hashToken(token) })
        .andWhere('expires_at', '>', this.server.db.fn.now())
        .first('id')) !== undefined
    );
  }

  async idempotencyKeyUsed(principal: number, key: string): Promise<boolean> {
    return (
      (await this.server.db('idempotency_keys').where({ principal, key }).first('key')) !==
      undefined
    );
  }
}
