import { randomBytes } from 'node:crypto';
import type { components } from '../../generated/openapi.js';
import { createMicroblogClient } from '../../sdk/typescript/src/index.js';
import { send, type Target } from './http.js';
import type { TestServer } from './server.js';
import { PASSWORD } from './constants.js';

export type User = components['schemas']['User'];

export interface TestUser {
  id: number;
  username: string;
  email: string;
  password: string;
  token: string;
  /** Authorization header value for this user's token. */
  auth: { Authorization: string };
  user: User;
}

/** A name no other test uses. */
export function uniqueName(prefix = 'u'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export function basic(login: string, password: string): string {
  return `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`;
}

/** Registers a user through POST /api/users and logs in through POST /api/tokens. */
export async function createUser(
  server: TestServer,
  overrides: Partial<{ username: string; email: string; password: string; about_me: string | null }> = {},
): Promise<TestUser> {
  const username = overrides.username ?? uniqueName();
  const email = overrides.email ?? `${username}@example.com`;
  const password = overrides.password ?? PASSWORD;
  const created = await server.api.POST('/api/users', {
    body: { username, email, password, ...(overrides.about_me !== undefined ? { about_me: overrides.about_me } : {}) },
  });
  if (created.response.status !== 201 || !created.data) {
    throw new Error(`registration failed: ${created.response.status} ${JSON.stringify(created.error)}`);
  }
  const token = await login(server, username, password);
  return { id: created.data.id, username, email, password, token, auth: { Authorization: `Bearer ${token}` }, user: created.data };
}

/** Logs in through the SDK (POST /api/tokens); a client of its own keeps server.api tokenless. */
export async function login(server: TestServer, loginName: string, password: string): Promise<string> {
  const { token } = await createMicroblogClient({ baseUrl: server.baseUrl }).login(loginName, password);
  return token;
}

/**
 * Registers a user and logs in over plain HTTP, on any server (one in a process of its own,
 * say, where there is no TestServer): its id, credentials and bearer header.
 */
export async function registerAndLogIn(
  on: Target,
  prefix = 'u',
): Promise<{ id: number; username: string; email: string; password: string; auth: { Authorization: string } }> {
  const username = uniqueName(prefix);
  const email = `${username}@example.com`;
  const password = PASSWORD;
  const created = await send<{ id: number }>(on, 'POST', '/api/users', { json: { username, email, password } });
  if (created.status !== 201) throw new Error(`registration failed: ${created.status} ${created.text}`);
  const token = await send<{ token: string }>(on, 'POST', '/api/tokens', { authorization: basic(username, password) });
  if (token.status !== 200) throw new Error(`login failed: ${token.status} ${token.text}`);
  return { id: created.body.id, username, email, password, auth: { Authorization: `Bearer ${token.body.token}` } };
}
