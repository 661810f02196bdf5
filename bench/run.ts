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
const usage = `usage: npm run bench -- [--users N] [--follows N] [--posts N] [--celebrity-followers N] [--fan-follows N]
                      [--duration S] [--warmup S] [--connections N] [--workers 1,2] [--rounds N] [--only a,b] [--json FILE]
       npm run bench -- --median FILE FILE FILE   (prints the medians of earlier --json results)`;

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    users: { type: 'string', default: '10000' },
    follows: { type: 'string', default: '200000' },
    posts: { type: 'string', default: '100000' },
    'celebrity-followers': { type: 'string', default: '100000' },
    'fan-follows': { type: 'string', default: '1000' },
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
const data = {
  users: whole('users', 2),
  follows: whole('follows'),
  posts: whole('posts'),
  celebrityFollowers: whole('celebrity-followers', 1),
  fanFollows: whole('fan-follows', 1),
};
if (data.fanFollows > data.users) {
  process.stderr.write('bench: --fan-follows cannot exceed --users\n');
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
}

interface Subjects {
  celebrityFollowers: number;
  fanFollows: number;
  ordinary: { id: number; username: string };
  celebrity: number;
  fan: { id: number; username: string };
}

function scenarios(s: Subjects, deepPath: string): Scenario[] {
  return [
    { key: 'user', label: 'GET /api/users/{id} (ordinary user)', method: 'GET', path: `/api/users/${s.ordinary.id}` },
    { key: 'user-celebrity', label: `GET /api/users/{id} (${s.celebrityFollowers.toLocaleString('en')} followers)`, method: 'GET', path: `/api/users/${s.celebrity}` },
    { key: 'users', label: 'GET /api/users?per_page=100', method: 'GET', path: '/api/users?per_page=100' },
    { key: 'followers', label: 'GET /api/users/{id}/followers page 1', method: 'GET', path: `/api/users/${s.celebrity}/followers?per_page=100` },
    { key: 'followers-deep', label: 'GET /api/users/{id}/followers deep (via next)', method: 'GET', path: deepPath },
    { key: 'feed', label: `GET /api/users/{id}/feed (follows ${s.fanFollows.toLocaleString('en')})`, method: 'GET', path: `/api/users/${s.fan.id}/feed` },
    { key: 'posts', label: 'GET /api/posts', method: 'GET', path: '/api/posts' },
    { key: 'post-create', label: 'POST /api/posts', method: 'POST', path: '/api/posts', body: JSON.stringify({ body: 'A post from the benchmark.' }) },
  ];
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

  log(`seeding ${data.users} users, ${data.follows} follows, ${data.posts} posts, a user followed by ${data.celebrityFollowers}, one following ${data.fanFollows}`);
  const seeding = Date.now();
  await runNode(
    path.join(root, 'dist/src/cli/seed.js'),
    [
      '--users', String(data.users), '--follows', String(data.follows), '--posts', String(data.posts),
      '--celebrity-followers', String(data.celebrityFollowers), '--fan-follows', String(data.fanFollows),
      '--seed', '42', '--reset',
    ],
    { DATABASE_URL: db.url, LOG_LEVEL: 'warn' },
  );
  log(`seeded in ${((Date.now() - seeding) / 1000).toFixed(1)} s`);

  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const one = async (sql: string) => (await client.query<{ id: number; username: string }>(sql)).rows[0] as { id: number; username: string };
  const subjects: Subjects = {
    celebrityFollowers: data.celebrityFollowers,
    fanFollows: data.fanFollows,
    // The seeded user in the middle, an ordinary one (a few dozen followers).
    ordinary: await one(`SELECT id::int, username FROM users WHERE username !~ '^(celebrity|follower|fan)_' ORDER BY id OFFSET ${Math.floor(data.users / 2)} LIMIT 1`),
    celebrity: (await one(`SELECT id::int, username FROM users WHERE username ~ '^celebrity_' ORDER BY id DESC LIMIT 1`)).id,
    fan: await one(`SELECT id::int, username FROM users WHERE username ~ '^fan_' ORDER BY id DESC LIMIT 1`),
  };
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
  const firstFollowers = `/api/users/${subjects.celebrity}/followers?per_page=100`;
  const wanted = (key: string) => !only || only.has(key);

  // The deep followers page is reached by following next links, one after the other: a
  // server of its own walks there while statements are counted on another (its link
  // holds a cursor, so it serves every server started later).
  const startWalk = async (): Promise<{ done: Promise<string> }> => {
    const port = await freePort();
    const server = await startServer(path.join(root, 'dist/src/main.js'), serverEnv(db.url, port, 1), port, '/api');
    const walk = Date.now();
    const token = await login(server.base, subjects.fan.username);
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
      const token = await login(server.base, subjects.fan.username);
      const deepPath = await followNext(server.base, token, firstFollowers, 3);
      const perRequest = async (base: string, scenario: Scenario, times = 10): Promise<number> => {
        const send = () => request(base, scenario.path, { method: scenario.method, headers: headersFor(scenario, token), ...(scenario.body ? { body: scenario.body } : {}) }).then((r) => r.arrayBuffer());
        await send();
        await send();
        const before = proxy.count();
        for (let i = 0; i < times; i++) await send();
        return (proxy.count() - before) / times;
      };
      for (const scenario of scenarios(subjects, deepPath)) results.statements[scenario.key] = await perRequest(server.base, scenario);
      results.statements['user-during-logins'] = results.statements.user as number;
      {
        const before = proxy.count();
        for (let i = 0; i < 3; i++) await login(server.base, subjects.ordinary.username);
        results.statements.logins = (proxy.count() - before) / 3;
      }
      results.statements.ceiling = await perRequest(ceiling.base, scenarios(subjects, deepPath)[0] as Scenario);

      const lists: [string, string][] = [
        ['GET /api/users', '/api/users'],
        ['GET /api/users/{id}/followers', `/api/users/${subjects.celebrity}/followers`],
        ['GET /api/users/{id}/followers (cursor)', deepPath.replace('per_page=100', 'per_page=PP')],
        ['GET /api/users/{id}/followed', `/api/users/${subjects.fan.id}/followed`],
        ['GET /api/posts', '/api/posts'],
        ['GET /api/users/{id}/posts', `/api/users/${subjects.ordinary.id}/posts`],
        ['GET /api/users/{id}/feed', `/api/users/${subjects.fan.id}/feed`],
      ];
      for (const [list, listPath] of lists) {
        const at = (pp: number) => (listPath.includes('PP') ? listPath.replace('PP', String(pp)) : `${listPath}${listPath.includes('?') ? '&' : '?'}per_page=${pp}`);
        const count = (pp: number) => perRequest(server.base, { key: list, label: list, method: 'GET', path: at(pp) }, 5);
        results.nPlusOne.push({ list, perPage1: await count(1), perPage100: await count(100) });
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
      const token = await login(server.base, subjects.fan.username);
      const spec = (base: string, scenario: Scenario, headers = headersFor(scenario, token), n = connections) => ({
        url: base + scenario.path,
        method: scenario.method,
        headers,
        ...(scenario.body ? { body: scenario.body } : {}),
        connections: n,
      });
      const all = scenarios(subjects, deepPath);
      const user = all[0] as Scenario;
      const slots: Slot[] = all
        .filter((scenario) => wanted(scenario.key))
        .map((scenario) => ({ rows: [{ key: scenario.key, label: scenario.label, workers, spec: spec(server.base, scenario), pid: server.pid }] }));
      if (ceiling) {
        slots.splice(1, 0, { rows: [{ key: 'ceiling', label: 'ceiling: node:http + pg, GET /api/users/{id}', workers: null, spec: spec(ceiling.base, user), pid: ceiling.pid }] });
      }
      if (wanted('user-during-logins')) {
        const basic = `Basic ${Buffer.from(`${subjects.ordinary.username}:${PASSWORD}`).toString('base64')}`;
        const tokens: Scenario = { key: 'logins', label: 'POST /api/tokens (16 at once)', method: 'POST', path: '/api/tokens' };
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
