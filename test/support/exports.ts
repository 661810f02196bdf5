import { expect } from 'vitest';
import type { components } from '../../generated/openapi.js';
import { runSql } from './databases.js';
import { registerAndLogIn } from './factories.js';
import { send, type Answer } from './http.js';
import { until } from './wait.js';

type Export = components['schemas']['Export'];
type Post = components['schemas']['Post'];

/** A user, registered and logged in through `baseUrl`, whose `count` posts are inserted in one statement. */
export async function userWithPosts(baseUrl: string, databaseUrl: string, count: number): Promise<{ id: number; token: string }> {
  const user = await registerAndLogIn(baseUrl, 'exporter');
  // A millisecond apart, all older than any export asked for afterwards.
  await runSql(
    databaseUrl,
    `INSERT INTO posts (user_id, body, created_at)
     SELECT ${user.id}, 'post ' || n, now() - interval '1 day' + n * interval '1 millisecond' FROM generate_series(1, ${count}) AS n`,
  );
  return { id: user.id, token: user.auth.Authorization.slice('Bearer '.length) };
}

/** One request as the user holding `token`. */
export function call<T>(baseUrl: string, method: string, path: string, token: string): Promise<Answer<T>> {
  return send<T>(baseUrl, method, path, { token, headers: { Accept: 'application/json' } });
}

/** Polls the export through `baseUrl()` (bounded) until `accept` holds; the last answer. */
export async function untilExport(baseUrl: () => string, id: number, token: string, what: string, accept: (e: Export) => boolean, timeoutMs = 60_000): Promise<Export> {
  let seen: Answer<Export> | undefined;
  await until(
    () => `export ${id} ${what} (last seen: ${seen?.text})`,
    async () => {
      seen = await call<Export>(baseUrl(), 'GET', `/api/exports/${id}`, token);
      return seen.status === 200 && accept(seen.body);
    },
    timeoutMs,
  );
  return (seen as Answer<Export>).body;
}

/** Checks an export's file holds `count` posts of `userId` (as `userWithPosts` wrote them), each once, newest first. */
export async function expectWholeFile(baseUrl: string, id: number, token: string, userId: number, count: number): Promise<void> {
  const file = await call<Post[]>(baseUrl, 'GET', `/api/exports/${id}/file`, token);
  expect(file.status).toBe(200);
  expect(file.body).toHaveLength(count);
  expect(new Set(file.body.map((post) => post.id)).size).toBe(count);
  expect(new Set(file.body.map((post) => post.body)).size).toBe(count);
  expect(file.body.every((post) => post.author === userId)).toBe(true);
  expect(file.body[0]?.body).toBe(`post ${count}`);
  expect(file.body.at(-1)?.body).toBe('post 1');
  expect(file.body.every((post, i) => i === 0 || (file.body[i - 1] as Post).timestamp > post.timestamp)).toBe(true);
}

/** The export's status and posts written, read from the database. */
export async function exportRow(databaseUrl: string, id: number): Promise<{ status: string; post_count: number }> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT status, post_count::int AS post_count FROM exports WHERE id = $1', [id]);
    return rows[0];
  } finally {
    await client.end();
  }
}
