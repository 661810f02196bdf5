/** Rows as PostgreSQL returns them (BIGINT parsed to number in database.ts). */
export interface UserRow {
  id: number;
  username: string;
  email: string;
  password_hash: string;
  about_me: string | null;
  last_seen: Date;
  created_at: Date;
  post_count: number;
  follower_count: number;
  followed_count: number;
  /** Messages received since the user last read them (its own record only). */
  unread_message_count: number;
}

/** What a user's representation reads: no password hash where none is needed. */
export const PUBLIC_USER_COLUMNS = ['id', 'username', 'email', 'about_me', 'last_seen', 'post_count', 'follower_count', 'followed_count'] as const;
export type PublicUserRow = Pick<UserRow, (typeof PUBLIC_USER_COLUMNS)[number]>;

export interface TokenRow {
  id: number;
  user_id: number;
  session_id: number;
  token_hash: Buffer;
  created_at: Date;
  expires_at: Date;
}

export interface SessionRow {
  id: number;
  user_id: number;
  device: string | null;
  created_at: Date;
  last_used_at: Date;
  expires_at: Date;
}

export interface RefreshTokenRow {
  id: number;
  session_id: number;
  token_hash: Buffer;
  created_at: Date;
  expires_at: Date;
  /** When it was exchanged for its successor; null while it is the session's current one. */
  rotated_at: Date | null;
  replaced_by: number | null;
  /** The pair it was exchanged for, sealed under a key derived from it (security/tokens.ts). */
  successor: Buffer | null;
}

export interface PasswordResetRow {
  id: number;
  user_id: number;
  token_hash: Buffer;
  created_at: Date;
  expires_at: Date;
}

export interface FollowRow {
  follower_id: number;
  followed_id: number;
  created_at: Date;
}

export interface PostRow {
  id: number;
  user_id: number;
  body: string;
  created_at: Date;
  updated_at: Date;
}

export interface IdempotencyKeyRow {
  principal: number;
  key: string;
  fingerprint: Buffer;
  status: number;
  headers: Record<string, string>;
  body: unknown;
  created_at: Date;
}

export type ExportStatus = 'queued' | 'running' | 'done' | 'failed';

export interface ExportRow {
  id: number;
  user_id: number;
  status: ExportStatus;
  progress: number;
  /** The user's posts when the job first ran; null until then. */
  total: number | null;
  post_count: number;
  chunk_count: number;
  cursor_created_at: Date | null;
  cursor_id: number | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface MessageRow {
  id: number;
  sender_id: number;
  recipient_id: number;
  body: string;
  created_at: Date;
}

export interface BlockRow {
  blocker_id: number;
  blocked_id: number;
  created_at: Date;
}
