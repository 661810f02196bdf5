/**
 * npm run bench: seeds a scratch database through db:seed, starts the built server as in
 * production, drives it with autocannon from child processes and prints one table.
 * See docs/benchmark.md and docs/performance.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { freePort } from '../src/ports.js';
import type { LoadResult, LoadSpec } from './load.js';
import { budgets, medianOf, render, type Results, type Row } from './report.js';
import { startStatementCounter } from './sqlcount.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const usage = `usage: npm run bench -- [--users N] [--follows N] [--posts N] [--celebrity-followers N] [--fan-follows N,N,...]
                      [--duration S] [--warmup S] [--connections N] [--workers 1,2] [--rounds N] [--only a,b] [--json FILE]
       npm run bench -- --median FILE FILE FILE   (prints the medians of earlier --json results, each budget
                                                   judged on the median of the runs' own ratios)
--fan-follows (default 5,100,1000) seeds one user per number who follows that many seeded users, each read
as a scenario feed-N. For the 5,000 scenario: --fan-follows 5,100,1000,5000 (a fan cannot follow more than
--users, 10000 by default, so keep --users at 5000 or more).
Scenarios (--only): user, ceiling, user-celebrity, users, followers, followers-deep, feed-N (or feed: every
feed-N), refresh, posts, search (and search-users; search means both), post-create, post-create-celebrity,
messages (GET /api/messages of a user with --messages received messages, and messages-send: POST
/api/users/{id}/messages), user-during-logins.`;

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    users: { type: 'string', default: '10000' },
    follows: { type: 'string', default: '200000' },
    posts: { type: 'string', default: '100000' },
    'celebrity-followers': { type: 'string', default: '100000' },
    'fan-follows': { type: 'string', default: '5,100,1000' },
    messages: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '10' },
    workers: { type: 'string', default: '1,2' },
    rounds: { type: 'string', default: '2' },
    only: { type: 'string' },
    json: { type: 'string' },
    median: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (args.median) {
  const runs = positionals.map((file) => JSON.parse(readFileSync(file, 'utf8')) as Results);
  process.stdout.write(render(medianOf(runs)));
  process.exit(0);
}
const whole = (name: keyof typeof args, min = 0): number => {
  const n = Number(args[name]);
  if (!Number.isSafeInteger(n) || n < min) {
    process.stderr.write(`bench: --${name} must be a whole number ≥ ${min}\n${usage}\n`);
    process.exit(2);
  }
  return n;
};
const fanFollows = [...new Set(String(args['fan-follows']).split(',').map((n) => Number(n.trim())))].sort((a, b) => a - b);
if (fanFollows.some((n) => !Number.isSafeInteger(n) || n < 1)) {
  process.stderr.write(`bench: --fan-follows takes a comma list of whole numbers ≥ 1, such as 5,100,1000\n${usage}\n`);
  process.exit(2);
}
const data = {
  users: whole('users', 2),
  follows: whole('follows'),
  posts: whole('posts'),
  celebrityFollowers: whole('celebrity-followers', 1),
  fanFollows,
  messages: whole('messages'),
};
const tooMany = fanFollows.find((n) => n > data.users);
if (tooMany !== undefined) {
  process.stderr.write(`bench: --fan-follows ${tooMany} cannot exceed --users (${data.users}): a fan follows seeded users only; raise --users to ${tooMany} or more\n`);
  process.exit(2);
}
const duration = whole('duration', 1);
const warmup = whole('warmup');
const connections = whole('connections', 1);
const rounds = whole('rounds', 1);
const workerCounts = String(args.workers).split(',').map(Number);
if (workerCounts.some((w) => !Number.isInteger(w) || w < 1 || w > 16)) {
  process.stderr.write('bench: --workers takes a list of worker counts such as 1,2\n');
  process.exit(2);
}
const only = args.only ? new Set(args.only.split(',')) : undefined;
// A bound on requests per run, well above what this stack serves in `duration`.
const maxRequests = 50_000 * duration;
const LOGINS = 16;
const PASSWORD = 'password';

/**
 * The environment of the server under test, in one place: production settings, quiet
 * logs. Switch off or raise anything here (a rate limit, say) that would measure
 * something else than the server's cost.
 */
function serverEnv(databaseUrl: string, port: number, workers: number): Record<string, string> {
  return {
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    MIGRATE_ON_START: 'true',
    WEB_CONCURRENCY: String(workers),
    // The limiters run, as in production, but one client on loopback never reaches them.
    RATE_LIMIT_REQUESTS: '1000000000',
    RATE_LIMIT_FAILED_LOGINS_PER_ACCOUNT: '1000000000',
    RATE_LIMIT_FAILED_LOGINS_PER_ADDRESS: '1000000000',
    RATE_LIMIT_MESSAGES: '1000000000',
  };
}

const children = new Set<ChildProcess>();
const cleanups: (() => Promise<void>)[] = [];
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

async function cleanup(): Promise<void> {
  for (const child of children) child.kill('SIGKILL');
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  cleanups.length = 0;
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** Runs node with `args` to its end; its stdout, or an error with its stderr. `onLine` sees each stderr line. */
function runNode(script: string, argv: string[], env: Record<string, string> = {}, onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => {
      const lines = (err.slice(err.lastIndexOf('\n') + 1) + d.toString()).split('\n').slice(0, -1);
      err += d;
      for (const line of lines) onLine?.(line);
    });
    child.on('exit', (code) => {
      children.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(script)} exited with ${code}: ${err.trim().slice(-2000) || out.trim().slice(-2000)}`));
    });
  });
}

/** A scratch database: on BENCH_DATABASE_URL's or DATABASE_URL's server, else an embedded PostgreSQL. */
async function scratchDatabase(): Promise<{ url: string; label: string }> {
  const external = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL;
  if (external) {
    const name = `microblog_bench_${process.pid}_${Date.now()}`;
    const admin = async (sql: string) => {
      const client = new pg.Client({ connectionString: external });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    await admin(`CREATE DATABASE ${name}`);
    cleanups.push(() => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    const url = new URL(external);
    url.pathname = `/${name}`;
    const version = await serverVersion(url.toString());
    return { url: url.toString(), label: `PostgreSQL ${version} at ${url.host} (scratch database ${name})` };
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'microblog-bench-'));
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort(), database: 'bench' });
  cleanups.push(async () => {
    await embedded.stop();
    await rm(path.dirname(embedded.dataDir), { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });
  return { url: embedded.url, label: `embedded PostgreSQL ${await serverVersion(embedded.url)}` };
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v.split(' ')[0] ?? '?';
  } finally {
    await client.end();
  }
}

interface Started {
  base: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts a server script with `env` and waits until GET `probe` answers. */
async function startServer(script: string, env: Record<string, string>, port: number, probe: string): Promise<Started> {
  const child = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const base = `http://127.0.0.1:${port}`;
  for (let waited = 0; ; waited += 100) {
    if (child.exitCode !== null) throw new Error(`${path.basename(script)} exited with ${child.exitCode}: ${stderr.trim()}`);
    if (waited > 60_000) throw new Error(`${path.basename(script)} did not answer within 60 s: ${stderr.trim()}`);
    const status = await fetch(base + probe).then((r) => r.status, () => 0);
    if (status !== 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    base,
    pid: child.pid as number,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      children.delete(child);
      if (code !== 0) log(`${path.basename(script)} exited with ${code} on SIGTERM: ${stderr.trim().slice(-500)}`);
    },
  };
}

/** Processor time (user + system) a process and all its descendants have used so far, in ms. */
function cpuMs(pid: number): number {
  let ticks = 0;
  const visit = (p: number) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
      for (const task of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) visit(Number(task));
    } catch {
      // a process that ended meanwhile is not counted
    }
  };
  visit(pid);
  return (ticks * 1000) / CLOCK_TICKS;
}
// USER_HZ, 100 on every Linux architecture Node runs on.
const CLOCK_TICKS = 100;

/** VmHWM (peak resident set) of a process and all its descendants, summed, in MiB. */
function peakRssMiB(pid: number): number {
  let kib = 0;
  const visit = (p: number) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      kib += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      for (const task of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) visit(Number(task));
    } catch {
      // a process that ended meanwhile holds no memory
    }
  };
  visit(pid);
  return kib / 1024;
}

async function request(base: string, urlPath: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(base + urlPath, init);
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${urlPath}: ${res.status} ${await res.text()}`);
  return res;
}

async function login(base: string, username: string): Promise<string> {
  const res = await request(base, '/api/tokens', {
    method: 'POST',
    headers: { Authorization: `Basic ${Buffer.from(`${username}:${PASSWORD}`).toString('base64')}` },
  });
  return ((await res.json()) as { token: string }).token;
}

interface Scenario {
  key: string;
  label: string;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  /** The user it is made as (logged in with a token of its own). */
  as: string;
}

interface Subject {
  id: number;
  username: string;
}

interface Subjects {
  celebrityFollowers: number;
  ordinary: Subject;
  celebrity: Subject;
  /** One per --fan-follows number, fewest follows first. */
  fans: (Subject & { follows: number })[];
  /** The fan every other read is made as, and the one that pulls to refresh: the one following 1,000, else the most. */
  viewer: Subject & { follows: number };
}

const count = (n: number) => n.toLocaleString('en');

/** The scenarios, in the order they run; `refresh` only with the path of a newer page. */
function scenarios(s: Subjects, deepPath: string, refresh?: { path: string; posts: number }): Scenario[] {
  const viewer = s.viewer.username;
  const post = (by: string) => JSON.stringify({ body: `A post from the benchmark, by ${by}.` });
  return [
    { key: 'user', label: 'GET /api/users/{id} (ordinary user)', method: 'GET', path: `/api/users/${s.ordinary.id}`, as: viewer },
    { key: 'user-celebrity', label: `GET /api/users/{id} (${count(s.celebrityFollowers)} followers)`, method: 'GET', path: `/api/users/${s.celebrity.id}`, as: viewer },
    { key: 'users', label: 'GET /api/users?per_page=100', method: 'GET', path: '/api/users?per_page=100', as: viewer },
    { key: 'followers', label: 'GET /api/users/{id}/followers page 1', method: 'GET', path: `/api/users/${s.celebrity.id}/followers?per_page=100`, as: viewer },
    { key: 'followers-deep', label: 'GET /api/users/{id}/followers deep (via next)', method: 'GET', path: deepPath, as: viewer },
    ...s.fans.map((fan): Scenario => ({
      key: `feed-${fan.follows}`,
      label: `GET /api/users/{id}/feed (follows ${count(fan.follows)})`,
      method: 'GET',
      path: `/api/users/${fan.id}/feed`,
      as: fan.username,
    })),
    ...(refresh
      ? [{ key: 'refresh', label: `GET /api/users/{id}/feed newer (${refresh.posts} new posts, follows ${count(s.viewer.follows)})`, method: 'GET' as const, path: refresh.path, as: viewer }]
      : []),
    { key: 'posts', label: 'GET /api/posts', method: 'GET', path: '/api/posts', as: viewer },
    // Search: a word in about a fifth of the seeded posts (ranked: every match is scored), and
    // a username prefix (seeded names are adjective_noun_id: about 1 user in 256 has this one).
    { key: 'search', label: 'GET /api/posts?q=coffee', method: 'GET', path: '/api/posts?q=coffee', as: viewer },
    { key: 'search-users', label: 'GET /api/users?q=brave_otter', method: 'GET', path: '/api/users?q=brave_otter', as: viewer },
    { key: 'post-create', label: 'POST /api/posts (ordinary user)', method: 'POST', path: '/api/posts', body: post('an ordinary user'), as: s.ordinary.username },
    {
      key: 'post-create-celebrity',
      label: `POST /api/posts (${count(s.celebrityFollowers)} followers)`,
      method: 'POST',
      path: '/api/posts',
      body: post('the celebrity'),
      as: s.celebrity.username,
    },
    { key: 'messages', label: `GET /api/messages (${count(data.messages)} received)`, method: 'GET', path: '/api/messages', as: s.ordinary.username },
    {
      key: 'messages-send',
      label: 'POST /api/users/{id}/messages',
      method: 'POST',
      path: `/api/users/${s.viewer.id}/messages`,
      body: JSON.stringify({ body: 'A message from the benchmark.' }),
      as: s.ordinary.username,
    },
  ];
}

/** A token for each user the scenarios are made as, logged in on `base` one after the other. */
async function loginAll(base: string, all: Scenario[]): Promise<(scenario: Scenario) => string> {
  const tokens = new Map<string, string>();
  for (const username of new Set(all.map((scenario) => scenario.as))) tokens.set(username, await login(base, username));
  return (scenario) => tokens.get(scenario.as) as string;
}

/**
 * Pull-to-refresh: `fan` reads page 1 of its feed, then each of `authors` (users it follows)
 * posts once; the path to measure is that page's `_links.newer`, which holds those posts.
 */
async function setUpRefresh(base: string, fan: Subject, authors: Subject[]): Promise<{ path: string; posts: number }> {
  const auth = (token: string) => ({ Authorization: `Bearer ${token}`, Accept: 'application/json' });
  const token = await login(base, fan.username);
  const feed = `/api/users/${fan.id}/feed`;
  const page = (await (await request(base, feed, { headers: auth(token) })).json()) as { _links?: { newer?: unknown } };
  const newer = page._links?.newer;
  if (typeof newer !== 'string' || !newer.startsWith('/')) {
    throw new Error(
      `refresh: GET ${feed} answered no _links.newer (${JSON.stringify(page._links)}): this server has no pull-to-refresh; leave the scenario out with --only`,
    );
  }
  for (const author of authors) {
    const headers = { ...auth(await login(base, author.username)), 'Content-Type': 'application/json' };
    await request(base, '/api/posts', { method: 'POST', headers, body: JSON.stringify({ body: `New for pull-to-refresh, by ${author.username}.` }) });
  }
  const items = ((await (await request(base, newer, { headers: auth(token) })).json()) as { items: unknown[] }).items;
  if (items.length !== authors.length) throw new Error(`refresh: ${newer} holds ${items.length} posts, not the ${authors.length} just made`);
  return { path: newer, posts: authors.length };
}

/** Follows `_links.next` from `start` `hops` times; the path reached. */
async function followNext(base: string, token: string, start: string, hops: number): Promise<string> {
  let at = start;
  for (let i = 0; i < hops; i++) {
    const res = await request(base, at, { headers: { Authorization: `Bearer ${token}` } });
    const next = ((await res.json()) as { _links: { next: string | null } })._links.next;
    if (!next) break;
    at = next;
  }
  return at;
}

/** A load run, and the server's processor time while it measured (after any warm-up), in ms. */
async function load(
  spec: Omit<LoadSpec, 'warmupSeconds' | 'durationSeconds' | 'maxRequests'>,
  serverPid: number,
  warm: boolean,
  seconds: number,
): Promise<LoadResult & { cpuMs: number }> {
  const full: LoadSpec = { ...spec, warmupSeconds: warm ? warmup : 0, durationSeconds: seconds, maxRequests };
  let before = cpuMs(serverPid);
  const result = JSON.parse(
    await runNode(path.join(here, 'load.js'), [JSON.stringify(full)], {}, (line) => {
      if (line === 'measuring') before = cpuMs(serverPid);
    }),
  ) as LoadResult;
  return { ...result, cpuMs: cpuMs(serverPid) - before };
}

const mean = (values: number[]) => Math.round((values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)) * 10) / 10;

function headersFor(scenario: Scenario, token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}`, Accept: 'application/json', ...(scenario.body ? { 'Content-Type': 'application/json' } : {}) };
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadavg = os.loadavg();
  const db = await scratchDatabase();
  log(`database: ${db.label}`);

  log(`seeding ${data.users} users, ${data.follows} follows, ${data.posts} posts, a user followed by ${data.celebrityFollowers}, users following ${data.fanFollows.join(', ')}`);
  const seeding = Date.now();
  await runNode(
    path.join(root, 'dist/src/cli/seed.js'),
    [
      '--users', String(data.users), '--follows', String(data.follows), '--posts', String(data.posts),
      '--celebrity-followers', String(data.celebrityFollowers), '--fan-follows', data.fanFollows.join(','),
      '--seed', '42', '--reset',
    ],
    { DATABASE_URL: db.url, LOG_LEVEL: 'warn' },
  );
  log(`seeded in ${((Date.now() - seeding) / 1000).toFixed(1)} s`);

  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const one = async (sql: string) => (await client.query<Subject>(sql)).rows[0] as Subject;
  const fans = (
    await client.query<Subject & { follows: number }>(
      `SELECT id::int, username, (SELECT count(*)::int FROM follows WHERE follower_id = u.id) AS follows FROM users u WHERE username ~ '^fan_' ORDER BY id`,
    )
  ).rows;
  const viewer = fans.find((f) => f.follows === 1000) ?? (fans.at(-1) as Subject & { follows: number });
  const subjects: Subjects = {
    celebrityFollowers: data.celebrityFollowers,
    // The seeded user in the middle, an ordinary one (a few dozen followers).
    ordinary: await one(`SELECT id::int, username FROM users WHERE username !~ '^(celebrity|follower|fan)_' ORDER BY id OFFSET ${Math.floor(data.users / 2)} LIMIT 1`),
    celebrity: await one(`SELECT id::int, username FROM users WHERE username ~ '^celebrity_' ORDER BY id DESC LIMIT 1`),
    fans,
    viewer,
  };
  // Who posts the new posts the viewer pulls to refresh: 10 of the users it follows.
  const refreshAuthors = (
    await client.query<Subject>(
      `SELECT u.id::int, u.username FROM follows f JOIN users u ON u.id = f.followed_id WHERE f.follower_id = $1 ORDER BY u.id LIMIT 10`,
      [viewer.id],
    )
  ).rows;
  // The ordinary user's received messages, one from each of --messages other users, a second apart.
  await client.query(
    `INSERT INTO messages (sender_id, recipient_id, body, created_at)
     SELECT u.id, $1, 'A message from the benchmark.', now() - make_interval(secs => row_number() OVER (ORDER BY u.id))
     FROM users u WHERE u.id <> $1 ORDER BY u.id LIMIT $2`,
    [subjects.ordinary.id, data.messages],
  );
  await client.query('ANALYZE messages');
  await client.end();

  const results: Results = {
    meta: {
      date: new Date().toISOString(),
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
      node: process.version,
      cpus: os.availableParallelism(),
      loadavg,
      database: db.label,
      data,
      durationSeconds: duration,
      connections,
    },
    rows: [],
    statements: {},
    nPlusOne: [],
    peakRssMiB: {},
  };
  const dbUrl = new URL(db.url);
  const hops = Math.max(1, Math.floor((data.celebrityFollowers * 0.9) / 100));
  const firstFollowers = `/api/users/${subjects.celebrity.id}/followers?per_page=100`;
  // `--only feed` means every feed-N.
  const wanted = (key: string) =>
    !only ||
    only.has(key) ||
    (key.startsWith('feed-') && only.has('feed')) ||
    (key.startsWith('search-') && only.has('search')) ||
    (key === 'messages-send' && only.has('messages'));

  // The deep followers page is reached by following next links, one after the other: a
  // server of its own walks there while statements are counted on another (its link
  // holds a cursor, so it serves every server started later).
  const startWalk = async (): Promise<{ done: Promise<string> }> => {
    const port = await freePort();
    const server = await startServer(path.join(root, 'dist/src/main.js'), serverEnv(db.url, port, 1), port, '/api');
    const walk = Date.now();
    const token = await login(server.base, subjects.viewer.username);
    const done = followNext(server.base, token, firstFollowers, hops)
      .finally(() => server.stop())
      .then((at) => {
        log(`followed next ${hops} times through the followers of the celebrity in ${((Date.now() - walk) / 1000).toFixed(1)} s`);
        return at;
      });
    return { done };
  };
  const walker = wanted('followers-deep') ? (await startWalk()).done : Promise.resolve(firstFollowers);
  walker.catch(() => undefined);
  let refresh: { path: string; posts: number } | undefined;

  // Counting phase: one server and the ceiling, both through the counting proxy.
  {
    const proxy = await startStatementCounter({ host: dbUrl.hostname, port: Number(dbUrl.port || 5432) });
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const port = await freePort();
    const server = await startServer(path.join(root, 'dist/src/main.js'), serverEnv(viaProxy.toString(), port, 1), port, '/api');
    const ceilingPort = await freePort();
    const ceiling = await startServer(path.join(here, 'ceiling.js'), { DATABASE_URL: viaProxy.toString(), PORT: String(ceilingPort) }, ceilingPort, '/');
    try {
      const deepPath = await followNext(server.base, await login(server.base, subjects.viewer.username), firstFollowers, 3);
      // Before anything else posts, so that the newer page holds just the posts it made.
      if (wanted('refresh')) {
        refresh = await setUpRefresh(server.base, subjects.viewer, refreshAuthors);
        log(`refresh: ${refresh.posts} new posts above page 1 of the feed of ${subjects.viewer.username}, at ${refresh.path}`);
      }
      const all = scenarios(subjects, deepPath, refresh);
      const tokenFor = await loginAll(server.base, all);
      const perRequest = async (base: string, scenario: Scenario, times = 10): Promise<number> => {
        const send = () =>
          request(base, scenario.path, { method: scenario.method, headers: headersFor(scenario, tokenFor(scenario)), ...(scenario.body ? { body: scenario.body } : {}) }).then((r) =>
            r.arrayBuffer(),
          );
        await send();
        await send();
        const before = proxy.count();
        for (let i = 0; i < times; i++) await send();
        return (proxy.count() - before) / times;
      };
      for (const scenario of all) results.statements[scenario.key] = await perRequest(server.base, scenario);
      results.statements['user-during-logins'] = results.statements.user as number;
      {
        const before = proxy.count();
        for (let i = 0; i < 3; i++) await login(server.base, subjects.ordinary.username);
        results.statements.logins = (proxy.count() - before) / 3;
      }
      results.statements.ceiling = await perRequest(ceiling.base, all[0] as Scenario);

      const viewer = subjects.viewer.username;
      const lists: [string, string, string][] = [
        ['GET /api/users', '/api/users', viewer],
        ['GET /api/users/{id}/followers', `/api/users/${subjects.celebrity.id}/followers`, viewer],
        ['GET /api/users/{id}/followers (cursor)', deepPath.replace('per_page=100', 'per_page=PP'), viewer],
        ['GET /api/users/{id}/followed', `/api/users/${subjects.viewer.id}/followed`, viewer],
        ['GET /api/posts', '/api/posts', viewer],
        ['GET /api/users/{id}/posts', `/api/users/${subjects.ordinary.id}/posts`, viewer],
        ['GET /api/messages', '/api/messages', subjects.ordinary.username],
        ...subjects.fans.map((fan): [string, string, string] => [`GET /api/users/{id}/feed (follows ${count(fan.follows)})`, `/api/users/${fan.id}/feed`, fan.username]),
        ...(refresh ? [['GET /api/users/{id}/feed (newer, refresh)', refresh.path.replace(/per_page=\d+/, 'per_page=PP'), viewer] as [string, string, string]] : []),
      ];
      for (const [list, listPath, as] of lists) {
        const at = (pp: number) => (listPath.includes('PP') ? listPath.replace('PP', String(pp)) : `${listPath}${listPath.includes('?') ? '&' : '?'}per_page=${pp}`);
        const statements = (pp: number) => perRequest(server.base, { key: list, label: list, method: 'GET', path: at(pp), as }, 5);
        results.nPlusOne.push({ list, perPage1: await statements(1), perPage100: await statements(100) });
      }
    } finally {
      await server.stop();
      await ceiling.stop();
      await proxy.close();
    }
  }

  /** One measured run: a scenario on a server, or two at once (GETs during logins). */
  interface Slot {
    rows: { key: string; label: string; workers: number | null; spec: Omit<LoadSpec, 'warmupSeconds' | 'durationSeconds' | 'maxRequests'>; pid: number }[];
  }
  interface Tally {
    requests: number;
    seconds: number;
    p50: number[];
    p99: number[];
    errors: number;
    cpuMs: number;
  }
  const tallies = new Map<string, Tally & { label: string; workers: number | null; concurrent: boolean }>();

  /**
   * Runs every slot `rounds` times, cycling through them, each time for duration / rounds
   * seconds (the warm-up only the first time): a slow spell of a shared machine then falls
   * on every scenario alike, not on the one that happened to run then.
   */
  const measure = async (slots: Slot[]) => {
    for (let round = 0; round < rounds; round++) {
      for (const slot of slots) {
        const outcomes = await Promise.all(slot.rows.map((row) => load(row.spec, row.pid, round === 0, duration / rounds)));
        slot.rows.forEach((row, i) => {
          const outcome = outcomes[i] as LoadResult & { cpuMs: number };
          const id = `${row.key}@${row.workers}`;
          const tally = tallies.get(id) ?? { label: row.label, workers: row.workers, concurrent: slot.rows.length > 1, requests: 0, seconds: 0, p50: [], p99: [], errors: 0, cpuMs: 0 };
          tally.requests += outcome.requests;
          tally.seconds += outcome.seconds;
          tally.p50.push(outcome.p50);
          tally.p99.push(outcome.p99);
          tally.errors += outcome.errors;
          tally.cpuMs += outcome.cpuMs;
          tallies.set(id, tally);
        });
      }
    }
    for (const [id, t] of tallies) {
      const key = id.slice(0, id.lastIndexOf('@'));
      if (results.rows.some((r) => r.scenario === key && r.workers === t.workers)) continue;
      const row: Row = { scenario: key, label: t.label, workers: t.workers, rps: t.requests / t.seconds, p50: mean(t.p50), p99: mean(t.p99), errors: t.errors };
      // Runs at once share the server's processor time: no per-request figure for either.
      if (!t.concurrent) row.cpuMsPerRequest = t.cpuMs / Math.max(1, t.requests);
      results.rows.push(row);
      log(`${t.label} [${t.workers ?? 'ceiling'}]: ${row.rps.toFixed(0)} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, ${row.errors} errors`);
    }
  };

  // Throughput and latency phases: straight to PostgreSQL.
  const deepPath = await walker;
  for (const workers of workerCounts) {
    const port = await freePort();
    const server = await startServer(path.join(root, 'dist/src/main.js'), serverEnv(db.url, port, workers), port, '/api');
    // The ceiling runs in the same rounds as the first server measured, on as similar a machine as can be.
    const withCeiling = workers === workerCounts[0] && wanted('ceiling');
    const ceilingPort = await freePort();
    const ceiling = withCeiling
      ? await startServer(path.join(here, 'ceiling.js'), { DATABASE_URL: db.url, PORT: String(ceilingPort) }, ceilingPort, '/')
      : undefined;
    try {
      const all = scenarios(subjects, deepPath, refresh);
      const tokenFor = await loginAll(server.base, all);
      const spec = (base: string, scenario: Scenario, headers = headersFor(scenario, tokenFor(scenario)), n = connections) => ({
        url: base + scenario.path,
        method: scenario.method,
        headers,
        ...(scenario.body ? { body: scenario.body } : {}),
        connections: n,
      });
      const user = all[0] as Scenario;
      const slots: Slot[] = all
        .filter((scenario) => wanted(scenario.key))
        .map((scenario) => ({ rows: [{ key: scenario.key, label: scenario.label, workers, spec: spec(server.base, scenario), pid: server.pid }] }));
      if (ceiling) {
        slots.splice(1, 0, { rows: [{ key: 'ceiling', label: 'ceiling: node:http + pg, GET /api/users/{id}', workers: null, spec: spec(ceiling.base, user), pid: ceiling.pid }] });
      }
      if (wanted('user-during-logins')) {
        const basic = `Basic ${Buffer.from(`${subjects.ordinary.username}:${PASSWORD}`).toString('base64')}`;
        const tokens: Scenario = { key: 'logins', label: 'POST /api/tokens (16 at once)', method: 'POST', path: '/api/tokens', as: subjects.ordinary.username };
        slots.push({
          rows: [
            { key: 'user-during-logins', label: 'GET /api/users/{id} during 16 logins', workers, spec: spec(server.base, user), pid: server.pid },
            { key: 'logins', label: tokens.label, workers, spec: spec(server.base, tokens, { Authorization: basic }, LOGINS), pid: server.pid },
          ],
        });
      }
      await measure(slots);
      results.peakRssMiB[String(workers)] = peakRssMiB(server.pid);
    } finally {
      await server.stop();
      await ceiling?.stop();
    }
  }

  await cleanup();
  process.stdout.write(render(results));
  if (args.json) {
    writeFileSync(args.json, `${JSON.stringify(results, null, 2)}\n`);
    log(`results written to ${args.json}`);
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; ${budgets(results).filter((b) => !b.met).length} budget(s) not met`);
}

main().catch(async (err: unknown) => {
  await cleanup();
  process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
