import { execFile, spawn } from 'node:child_process';
import { chmod, cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName } from './support/factories.js';
import { isAlive, startServerProcess, type ServerProcess } from './support/process.js';
import { freePort } from './support/ports.js';
import { sendTogether } from './support/http.js';
import { until } from './support/wait.js';
import { PASSWORD } from './support/constants.js';

/**
 * What a new user does: clone into a private folder (0700, as under /root), `npm ci`, then
 * `npm start` and the db:* commands, each in its own process group as a terminal runs it.
 * The clone is this working tree's files and a hard-linked node_modules.
 */

const exec = promisify(execFile);
const PROJECT_FILES = ['package.json', 'package-lock.json', 'openapi.yaml', 'tsconfig.json', 'tsconfig.build.json', 'src', 'db', 'generated', 'bench', 'scripts'];

let clone: string;
const dataDirs = new Set<string>();
const running: ServerProcess[] = [];

beforeAll(async () => {
  clone = path.join(await mkdtemp(path.join(os.tmpdir(), 'microblog-clone-')), 'microblog-api');
  expect((await stat(path.dirname(clone))).mode & 0o777).toBe(0o700);
  for (const file of PROJECT_FILES) await cp(file, path.join(clone, file), { recursive: true });
  await exec('cp', ['-al', path.resolve('node_modules'), path.join(clone, 'node_modules')]);
});

afterEach(async () => {
  for (const server of running.splice(0)) await server.kill();
});

afterAll(async () => {
  // A database left running by a failed test would keep its folder busy.
  for (const dir of dataDirs) {
    const pid = await postmasterPid(dir);
    if (pid && isAlive(pid)) process.kill(pid, 'SIGQUIT');
  }
  await rm(path.dirname(clone), { recursive: true, force: true });
  for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
});

/** `npm start` in the clone, in its own process group, with only PATH, HOME and `env`. */
async function npmStart(env: Record<string, string> = {}, options: { noWait?: boolean } = {}): Promise<ServerProcess> {
  const server = await startServerProcess(
    { NODE_ENV: 'development', MIGRATE_ON_START: 'true', HOST: '', ...env },
    { command: ['npm', 'start'], cwd: clone, detached: true, noWait: options.noWait },
  );
  running.push(server);
  if (!options.noWait) {
    const started = server.lines.find((line) => /^embedded PostgreSQL started/.test(line.msg));
    if (typeof started?.dataDir === 'string') dataDirs.add(started.dataDir);
  }
  return server;
}

function npmRun(script: string, args: string[] = [], env: Record<string, string> = {}) {
  return exec('npm', ['run', '--silent', script, ...(args.length ? ['--', ...args] : [])], {
    cwd: clone,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

/** The pid of the postmaster serving `dataDir` (not initdb's bootstrap one, written negative). */
async function postmasterPid(dataDir: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Holds a port of 127.0.0.1, as another program would; resolves even if one already does. */
async function holdPort(port: number): Promise<net.Server> {
  const holder = net.createServer();
  await new Promise<void>((resolve) => {
    holder.once('error', () => resolve());
    holder.listen(port, '127.0.0.1', () => resolve());
  });
  return holder;
}

function registration(): { method: string; headers: Record<string, string>; body: string } {
  const username = uniqueName('first');
  return {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, email: `${username}@example.com`, password: PASSWORD }),
  };
}

function databaseLine(server: ServerProcess) {
  return server.lines.find((line) => /^embedded PostgreSQL started on port \d+$/.test(line.msg)) as
    | { port: number; url: string; dataDir: string }
    | undefined;
}

/** The embedded database a started server logged, and its postmaster's pid. */
async function databaseOf(server: ServerProcess): Promise<{ port: number; url: string; dataDir: string; pid: number }> {
  const line = databaseLine(server);
  const pid = line && (await postmasterPid(line.dataDir));
  if (!line || !pid) throw new Error('the server logged no embedded database');
  return { ...line, pid };
}

/** The process group `npm start` leads (it was started detached). */
function group(server: ServerProcess): number {
  if (!server.child.pid) throw new Error('no pid');
  return -server.child.pid;
}

describe('npm start in a fresh clone in a private folder', () => {
  it('serves, on a free database port although 54329 is taken, and names the database in its banner', async () => {
    const holder = await holdPort(54329);
    try {
      const server = await npmStart();
      const database = databaseLine(server);
      expect(database?.port).not.toBe(54329);
      const banner = server.lines.find((line) => line.msg.startsWith('Microblog API on'));
      expect(banner?.database).toBe(database?.url);
      expect((await fetch(`${server.baseUrl}/api`)).status).toBe(200);
      expect(server.stderr()).not.toMatch(/EACCES|Error/);
    } finally {
      holder.close();
    }
  });

  it('drains on Ctrl-C: 40 requests in flight all complete, then the server and its database exit', async () => {
    const server = await npmStart();
    const postgres = (await databaseOf(server)).pid;
    expect(isAlive(postgres)).toBe(true);

    const answers = sendTogether(40, `${server.baseUrl}/api/users`, registration);
    await answers.sent;
    process.kill(group(server), 'SIGINT'); // what a terminal's Ctrl-C does

    expect(await answers.statuses).toEqual(Array(40).fill(201));
    const { code } = await server.exited;
    // npm reports the SIGINT it got itself (130); the server's own exit is in its log.
    expect([0, 130]).toContain(code);
    expect(server.lines.find((line) => line.msg === 'stopped')).toMatchObject({ drained: true });
    expect(isAlive(postgres)).toBe(false);
    expect(() => process.kill(group(server), 0)).toThrow(); // nothing of the group is left
  });

  it('drains on SIGINT sent to the npm process alone', async () => {
    const server = await npmStart();
    const postgres = (await databaseOf(server)).pid;
    server.child.kill('SIGINT');
    await server.exited;
    expect(server.lines.find((line) => line.msg === 'stopped')).toMatchObject({ drained: true });
    expect(isAlive(postgres)).toBe(false);
  });

  it('says in one line that a server of this clone already runs, and where, when started twice', async () => {
    const first = await npmStart();
    const second = await npmStart({}, { noWait: true });
    expect(await second.exited).toMatchObject({ code: 1 });
    const stderr = second.stderr().trim();
    expect(stderr.split('\n')).toHaveLength(1);
    expect(stderr).toMatch(new RegExp(`^microblog-api: a Microblog API server from this clone already runs \\(pid \\d+, http://localhost:${first.port}/api\\)`));
    expect((await fetch(`${first.baseUrl}/api`)).status).toBe(200);
  });

  it('lets db:migrate, db:seed, db:url and db:reset use the running server\'s database', async () => {
    const server = await npmStart();
    const { url } = await databaseOf(server);

    const printed = await npmRun('db:url');
    expect(printed).toMatchObject({ code: 0, stdout: `${url}\n` });

    const migrated = await npmRun('db:migrate');
    expect(migrated).toMatchObject({ code: 0 });
    expect(migrated.stdout).toContain('the database is up to date');
    expect(await npmRun('db:seed', ['--users', '7', '--follows', '5', '--posts', '9'])).toMatchObject({ code: 0 });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const count = async () => (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM users')).rows[0]?.n;
      expect(await count()).toBeGreaterThanOrEqual(7);
      expect((await fetch(`${server.baseUrl}/api/users`, registration())).status).toBe(201);

      const refused = await npmRun('db:reset');
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/run it again with --yes/);
      expect(await count()).toBeGreaterThanOrEqual(8);

      expect(await npmRun('db:reset', ['--yes'])).toMatchObject({ code: 0 });
      expect(await count()).toBe(0);
      // The server goes on, on the emptied database: ids start again at 1.
      const again = await fetch(`${server.baseUrl}/api/users`, registration());
      expect(again.status).toBe(201);
      expect(((await again.json()) as { id: number }).id).toBe(1);
    } finally {
      await client.end();
    }
  });

  it('stops the database a db:* command started when Ctrl-C ends that command', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'microblog-seed-'));
    await chmod(dataDir, 0o755);
    dataDirs.add(dataDir);
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', EMBEDDED_PG_DATA_DIR: path.join(dataDir, 'pg') };
    const seeding = spawn('npm', ['run', 'db:seed', '--', '--users', '200000', '--follows', '2000000', '--posts', '2000000'], { cwd: clone, env, detached: true, stdio: 'ignore' });
    const ended = new Promise((resolve) => seeding.once('exit', resolve));
    const postgres = await until('the seed command\'s database started', () => postmasterPid(path.join(dataDir, 'pg')), 60_000);
    expect(postgres).toBeDefined();
    process.kill(-(seeding.pid ?? 0), 'SIGINT');
    await ended;
    await until(`its database (pid ${postgres}) stopped`, () => !isAlive(postgres), 10_000);
    expect(postgres && isAlive(postgres)).toBe(false);
  });

  it('stops its database and says so in one line when its port is taken', async () => {
    const port = await freePort();
    const holder = await holdPort(port);
    try {
      const server = await npmStart({ PORT: String(port) }, { noWait: true });
      expect(await server.exited).toMatchObject({ code: 1 });
      expect(server.stderr().trim()).toBe(`microblog-api: port :${port} is already in use: stop what holds it, or set PORT`);
      const started = databaseLine(server);
      expect(started).toBeDefined();
      const pid = started && (await postmasterPid(started.dataDir));
      expect(pid === undefined || !isAlive(pid)).toBe(true);
    } finally {
      holder.close();
    }
  });

  it('restarts without building when nothing changed, and reports a bad setting in one line first', async () => {
    await npmStart().then((server) => server.kill()); // built once, whatever came before
    const built = (await stat(path.join(clone, 'dist', 'src', 'main.js'))).mtimeMs;

    const bad = await npmStart({ PORT: 'abc' }, { noWait: true });
    expect(await bad.exited).toMatchObject({ code: 1 });
    expect(bad.stderr().trim()).toMatch(/^microblog-api: invalid PORT="abc": [^\n]+$/);
    expect(bad.lines.map((line) => line.msg).join('\n')).not.toMatch(/tsc|building/);
    expect((await stat(path.join(clone, 'dist', 'src', 'main.js'))).mtimeMs).toBe(built);
  });

  it('names DATABASE_URL, with its password masked, when that database cannot be reached', async () => {
    const server = await npmStart({ DATABASE_URL: 'postgres://app:s3cret@127.0.0.1:1/microblog' }, { noWait: true });
    expect(await server.exited).toMatchObject({ code: 1 });
    const stderr = server.stderr().trim();
    expect(stderr).toMatch(/^microblog-api: cannot connect to the database at DATABASE_URL=postgres:\/\/app:\*\*\*\*@127\.0\.0\.1:1\/microblog: connect ECONNREFUSED 127\.0\.0\.1:1/);
    expect(stderr.split('\n')).toHaveLength(1);
    expect(stderr).not.toContain('s3cret');
  });
});
