import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { loadContract } from '../src/contract.js';
import { closeDb, migrateLatest, openDb, type Db } from '../src/db/database.js';
import { createLogger } from '../src/logger.js';
import { createScratchDatabase } from './support/databases.js';
import { JSON_TYPE } from './support/constants.js';
import { send, type Answer } from './support/http.js';
import { useServer } from './support/server.js';

const server = useServer();

const logger = createLogger('silent');

/** The app, with response validation on, over any database: reachable or not. */
async function appOver(db: Db): Promise<{ get(path: string): Promise<Answer>; close(): Promise<void> }> {
  const app = createApp({
    db,
    config: loadConfig({ NODE_ENV: 'test', RESPONSE_VALIDATION: 'true' }),
    contract: loadContract(),
    logger,
  });
  const http = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => http.once('listening', () => resolve()));
  const baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    get: (path) => send(baseUrl, 'GET', path),
    close: async () => {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await closeDb(db);
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function appOverUrl(url: string) {
  const app = await appOver(openDb({ url, poolMax: 2, logger }));
  cleanups.push(app.close);
  return app;
}

function expectReadiness(res: Answer, status: number, checks: { database: string; migrations: string }): void {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toBe(JSON_TYPE);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.body).toEqual({ status: status === 200 ? 'ready' : 'unavailable', checks });
  if (status === 503) expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
  else expect(res.headers.get('retry-after')).toBeNull();
}

describe('GET /healthz', () => {
  it('answers 200 {"status":"ok"}, never stored', async () => {
    const res = await send(server, 'GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('answers HEAD, as load balancers may send it', async () => {
    const res = await send(server, 'HEAD', '/healthz');
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
  });

  it('needs no credentials and ignores bad ones', async () => {
    const res = await send(server, 'GET', '/healthz', { authorization: 'Bearer nonsense' });
    expect(res.status).toBe(200);
  });

  it('answers 200 while the database is unreachable: the process is alive', async () => {
    const down = await appOverUrl('postgres://postgres:postgres@127.0.0.1:1/none');
    const res = await down.get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('answers another method with 405 and the JSON error', async () => {
    const res = await send(server, 'POST', '/healthz');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(res.body).toEqual({ error: 'Method Not Allowed', message: expect.any(String) });
  });

  it('answers 406 with the JSON error to a client that accepts only something else, as /api does', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const res = await send(server, 'GET', path, { headers: { Accept: 'application/xml' } });
      expect(res.status, path).toBe(406);
      expect(res.body, path).toEqual({ error: 'Not Acceptable', message: expect.any(String) });
    }
  });
});

describe('GET /readyz', () => {
  it('answers 200 when the database answers and every migration is applied', async () => {
    expectReadiness(await send(server, 'GET', '/readyz'), 200, { database: 'ok', migrations: 'ok' });
    const head = await server.fetch('/readyz', { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it('answers 503 with Retry-After when nothing listens where the database should be', async () => {
    const down = await appOverUrl('postgres://postgres:postgres@127.0.0.1:1/none');
    expectReadiness(await down.get('/readyz'), 503, { database: 'unavailable', migrations: 'unknown' });
  });

  it('answers 503 when the database accepts connections but never answers', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const { port } = silent.address() as AddressInfo;
    const hung = await appOverUrl(`postgres://postgres:postgres@127.0.0.1:${port}/none`);
    expectReadiness(await hung.get('/readyz'), 503, { database: 'unavailable', migrations: 'unknown' });
  });

  it('answers 503 while a migration is pending, and 200 once it is applied', async () => {
    const scratch = await createScratchDatabase(inject('databaseUrl'), 'microblog_readyz');
    cleanups.push(scratch.drop);
    const app = await appOverUrl(scratch.url);
    // A database nothing was ever applied to.
    expectReadiness(await app.get('/readyz'), 503, { database: 'ok', migrations: 'pending' });

    const migrator = openDb({ url: scratch.url, poolMax: 2 });
    try {
      const applied = await migrateLatest(migrator);
      expectReadiness(await app.get('/readyz'), 200, { database: 'ok', migrations: 'ok' });

      // As if this version shipped a migration the database has not had yet.
      const latest = applied.at(-1);
      expect(latest).toBeDefined();
      await migrator('knex_migrations').where({ name: latest }).delete();
      expectReadiness(await app.get('/readyz'), 503, { database: 'ok', migrations: 'pending' });

      await migrator('knex_migrations').insert({ name: latest, batch: 2, migration_time: new Date() });
      expectReadiness(await app.get('/readyz'), 200, { database: 'ok', migrations: 'ok' });
    } finally {
      await closeDb(migrator);
    }
  });
});
