import { randomBytes } from 'node:crypto';
import type { components } from '../../generated/openapi.js';
import { createMicroblogClient } from '../../sdk/typescript/src/index.js';
import type { TestServer } from './server.js';

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
  const password = overrides.password ?? 'correct horse battery staple';
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
