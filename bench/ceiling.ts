/**
 * The ceiling: the least a Node server on this stack can do to answer
 * GET /api/users/{id} — node:http and pg, no framework, no validation, no logging — with
 * the same SQL our server sends for it (the bearer token's lookup with its user, the
 * last_seen move when it is due, the user read) and the same answer: JSON body, ETag, cache
 * headers, and the request id, security and rate limit headers every answer of ours carries.
 * Anything else answers 404. PORT, DATABASE_URL and DATABASE_POOL_MAX from the
 * environment.
 */
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';

pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DATABASE_POOL_MAX ?? 10),
});

// The statements our server sends for this request (src/db/tokens.ts, src/db/users.ts).
const TOKEN_SQL = `SELECT u.*, t.id AS token_id, u.last_seen < now() - interval '1 minute' AS seen_long_ago
  FROM tokens t JOIN users u ON u.id = t.user_id
  WHERE t.token_hash = $1 AND t.expires_at > now()`;
const TOUCH_SQL =
  'update "users" set "last_seen" = CURRENT_TIMESTAMP where "id" = $1 and last_seen < now() - interval \'1 minute\' returning "last_seen"';
const USER_SQL = 'SELECT id, username, email, about_me, last_seen, post_count, follower_count, followed_count FROM users WHERE id = $1';

interface UserRow {
  id: number;
  username: string;
  email: string;
  about_me: string | null;
  last_seen: Date;
  post_count: number;
  follower_count: number;
  followed_count: number;
  seen_long_ago?: boolean;
}

function toUser(row: UserRow, viewerId: number) {
  const base = `/api/users/${row.id}`;
  const digest = createHash('md5').update(row.email.trim().toLowerCase()).digest('hex');
  return {
    id: row.id,
    username: row.username,
    ...(viewerId === row.id ? { email: row.email } : {}),
    last_seen: row.last_seen.toISOString(),
    about_me: row.about_me,
    post_count: row.post_count,
    follower_count: row.follower_count,
    followed_count: row.followed_count,
    _links: {
      self: base,
      followers: `${base}/followers`,
      followed: `${base}/followed`,
      posts: `${base}/posts`,
      avatar: `https://www.gravatar.com/avatar/${digest}?d=identicon&s=128`,
    },
  };
}

/**
 * The headers every answer of ours carries besides the representation's own: the request
 * id, the security headers (src/http/security-headers.ts) and the rate limit's state
 * (src/http/rate-limit.ts). Without them it would not be the same answer.
 */
const SECURITY_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Origin-Agent-Cluster': '?1',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-DNS-Prefetch-Control': 'off',
  'X-Download-Options': 'noopen',
  'X-Frame-Options': 'DENY',
  'X-Permitted-Cross-Domain-Policies': 'none',
  'X-XSS-Protection': '0',
  'Content-Security-Policy': "default-src 'none';base-uri 'none';form-action 'none';frame-ancestors 'none'",
};
const QUOTA = 1_000_000_000;
let used = 0;

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  const etag = `"${Buffer.byteLength(json).toString(16)}-${createHash('sha1').update(json).digest('base64').slice(0, 27)}"`;
  used = (used + 1) % QUOTA;
  res.writeHead(status, {
    'X-Request-Id': randomUUID(),
    ...SECURITY_HEADERS,
    'RateLimit-Policy': `"requests";q=${QUOTA};w=60`,
    RateLimit: `"requests";r=${QUOTA - used};t=60`,
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'private, no-cache',
    Vary: 'Accept, Authorization',
    ETag: etag,
    'Content-Length': Buffer.byteLength(json),
  });
  res.end(json);
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const match = req.method === 'GET' ? /^\/api\/users\/(\d{1,15})$/.exec(req.url ?? '') : null;
  if (!match) return send(res, 404, { error: 'Not Found' });
  const auth = /^bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!auth?.[1]) return send(res, 401, { error: 'Unauthorized' });
  const tokenHash = createHash('sha256').update(auth[1]).digest();
  const found = await pool.query<UserRow>(TOKEN_SQL, [tokenHash]);
  const viewer = found.rows[0];
  if (!viewer) return send(res, 401, { error: 'Unauthorized' });
  if (viewer.seen_long_ago) {
    const moved = await pool.query<{ last_seen: Date }>(TOUCH_SQL, [viewer.id]);
    if (moved.rows[0]) viewer.last_seen = moved.rows[0].last_seen;
  }
  const id = Number(match[1]);
  const row = id === viewer.id ? viewer : (await pool.query<UserRow>(USER_SQL, [id])).rows[0];
  if (!row) return send(res, 404, { error: 'Not Found', message: `user ${id} does not exist` });
  send(res, 200, toUser(row, viewer.id));
}

const server = http.createServer((req, res) => {
  handle(req, res).catch(() => send(res, 500, { error: 'Internal Server Error' }));
});
server.keepAliveTimeout = 5000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`ceiling listening on ${typeof address === 'object' && address ? address.port : '?'}\n`);
});
const stop = () => server.close(() => void pool.end().then(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
