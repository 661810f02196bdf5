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
}

export interface TokenRow {
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
