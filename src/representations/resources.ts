import { createHash } from 'node:crypto';
import type { components } from '../../generated/openapi.js';
import type { MessageRow, PostRow, PublicUserRow, SessionRow } from '../db/tables.js';

export type User = components['schemas']['User'];
export type Post = components['schemas']['Post'];
export type Session = components['schemas']['Session'];
export type Message = components['schemas']['Message'];

export const links = {
  user: (id: number) => `/api/users/${id}`,
  followers: (id: number) => `/api/users/${id}/followers`,
  followed: (id: number) => `/api/users/${id}/followed`,
  userPosts: (id: number) => `/api/users/${id}/posts`,
  feed: (id: number) => `/api/users/${id}/feed`,
  post: (id: number) => `/api/posts/${id}`,
  posts: '/api/posts',
  users: '/api/users',
  tokens: '/api/tokens',
  session: (id: number) => `/api/tokens/${id}`,
  docs: '/api/docs',
  openapi: '/api/openapi.json',
  message: (id: number) => `/api/messages/${id}`,
  messages: '/api/messages',
  sentMessages: '/api/messages/sent',
  blocked: (id: number) => `/api/users/${id}/blocked`,
  notifications: '/api/notifications',
  notificationStream: '/api/notifications/stream',
};

export function avatarUrl(email: string, size = 128): string {
  const digest = createHash('md5').update(email.trim().toLowerCase()).digest('hex');
  return `https://www.gravatar.com/avatar/${digest}?d=identicon&s=${size}`;
}

/**
 * A user as `viewerId` may see it: the email only for the user itself (or when
 * `showEmail` says so, as in the answer to a registration).
 */
export function toUser(row: PublicUserRow, viewerId: number | null, showEmail = false, unreadMessageCount?: number): User {
  const user: User = {
    id: row.id,
    username: row.username,
    ...(showEmail || viewerId === row.id ? { email: row.email } : {}),
    last_seen: row.last_seen.toISOString(),
    about_me: row.about_me,
    post_count: row.post_count,
    follower_count: row.follower_count,
    followed_count: row.followed_count,
    ...(unreadMessageCount !== undefined && viewerId === row.id ? { unread_message_count: unreadMessageCount } : {}),
    _links: {
      self: links.user(row.id),
      followers: links.followers(row.id),
      followed: links.followed(row.id),
      posts: links.userPosts(row.id),
      avatar: avatarUrl(row.email),
    },
  };
  return user;
}

export function toPost(row: PostRow): Post {
  return {
    id: row.id,
    body: row.body,
    timestamp: row.created_at.toISOString(),
    author: row.user_id,
    _links: { self: links.post(row.id), author: links.user(row.user_id) },
  };
}

export function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    body: row.body,
    timestamp: row.created_at.toISOString(),
    sender: row.sender_id,
    recipient: row.recipient_id,
    _links: { self: links.message(row.id), sender: links.user(row.sender_id), recipient: links.user(row.recipient_id) },
  };
}

/** A session as its user sees it; `current` marks the one of the token the request sent. */
export function toSession(row: SessionRow, currentSessionId: number | null): Session {
  return {
    id: row.id,
    device: row.device,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at.toISOString(),
    current: row.id === currentSessionId,
    _links: { self: links.session(row.id) },
  };
}
