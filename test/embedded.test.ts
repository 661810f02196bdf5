import { spawn } from 'node:child_process';
import { access, chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { freePort } from './support/ports.js';
import { until } from './support/wait.js';

const folders: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'microblog-embedded-'));
  await chmod(dir, 0o755);
  folders.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of folders) await rm(dir, { recursive: true, force: true });
});

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('embedded PostgreSQL', () => {
  it('keeps its data between runs', async () => {
    const dataDir = path.join(await tempDir(), 'pg');
    const port = await freePort();
    const first = await startEmbeddedPostgres({ dataDir, port, database: 'keep' });
    await query(first.url, 'CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)');
    await first.stop();
    const second = await startEmbeddedPostgres({ dataDir, port, database: 'keep' });
    try {
      expect(await query(second.url, 'SELECT n FROM kept')).toEqual([{ n: 42 }]);
    } finally {
      await second.stop();
    }
  });

  it('starts again after the process that ran it was killed hard, stopping the orphaned server', async () => {
    const dataDir = path.join(await tempDir(), 'pg');
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/embedded-child.ts', dataDir, String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
    });
    const orphanPid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(() => process.kill(orphanPid, 0)).not.toThrow(); // the server survived its parent

    const again = await startEmbeddedPostgres({ dataDir, port, database: 'orphan' });
    try {
      expect(await query(again.url, 'SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
      expect(() => process.kill(orphanPid, 0)).toThrow();
    } finally {
      await again.stop();
    }
  });

  it('lets a server and a db:* command started at the same moment on a new folder share one database, started once', async () => {
    const dataDir = path.join(await tempDir(), 'pg');
    // The tool starts once the server has taken the folder's lock: while it starts the database.
    const [server, tool] = await Promise.all([
      startEmbeddedPostgres({ dataDir, database: 'together', role: 'server' }),
      until(`${dataDir}.lock taken`, () => access(`${dataDir}.lock`).then(() => true, () => false), 30_000).then(() =>
        startEmbeddedPostgres({ dataDir, database: 'together', role: 'tool' }),
      ),
    ]);
    try {
      expect({ server: server.owned, tool: tool.owned, samePort: server.port === tool.port }).toEqual({ server: true, tool: false, samePort: true });
      expect(await query(tool.url, 'SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
    } finally {
      await tool.stop();
      await server.stop();
    }
  });

  it('says which port is taken when it cannot listen', async () => {
    const blocker = (await import('node:net')).createServer();
    const port = await new Promise<number>((resolve) =>
      blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)),
    );
    try {
      const dataDir = path.join(await tempDir(), 'pg');
      await expect(startEmbeddedPostgres({ dataDir, port, database: 'x' })).rejects.toThrow(
        `port ${port} of 127.0.0.1 is already in use (EMBEDDED_PG_PORT)`,
      );
    } finally {
      blocker.close();
    }
  });
});
