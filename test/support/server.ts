import type { AddressInfo } from 'node:net';
import createClient, { type Client } from 'openapi-fetch';
import { afterAll, beforeAll, inject } from 'vitest';
import type { paths } from '../../generated/openapi.js';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { loadContract } from '../../src/contract.js';
import { openDb, type Db } from '../../src/db/database.js';
import { createLogger } from '../../src/logger.js';
import { openRedis } from '../../src/redis.js';

export interface TestServer {
  /** http://127.0.0.1:<port>, no trailing slash. */
  baseUrl: string;
  /** A typed client over the contract; responses come back as the server sent them. */
  api: Client<paths>;
  /** Direct database access, for arranging what the API cannot (expired tokens, say). */
  db: Db;
  /** A raw request through real HTTP, for what a typed client cannot send. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

/**
 * Limits no ordinary test file reaches, though every request still passes the limiters
 * (and their headers the contract); the rate-limit tests set small ones.
 */
const GENEROUS_LIMITS = {
  RATE_LIMIT_REQUESTS: '1000000',
  RATE_LIMIT_FAILED_LOGINS_PER_ACCOUNT: '1000000',
  RATE_LIMIT_FAILED_LOGINS_PER_ADDRESS: '1000000',
};

/**
 * Starts the app on a free port for the current test file, with response validation
 * on: any answer that drifts from openapi.yaml becomes a 500 and fails the test.
 */
export function useServer(env: Record<string, string> = {}): TestServer {
  const server = {} as TestServer;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const config = loadConfig({ NODE_ENV: 'test', RESPONSE_VALIDATION: 'true', ...GENEROUS_LIMITS, ...env });
    const db = openDb({ url: inject('databaseUrl'), poolMax: 20 });
    const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
    const redis = config.rateLimits.redisUrl ? openRedis(config.rateLimits.redisUrl, logger) : undefined;
    const app = createApp({ db, config, contract: loadContract(), logger, redis });
    const http = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => http.once('listening', () => resolve()));
    const baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    Object.assign(server, {
      baseUrl,
      db,
      api: createClient<paths>({ baseUrl }),
      fetch: (path: string, init?: RequestInit) => fetch(baseUrl + path, init),
    });
    close = async () => {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await db.destroy();
      redis?.disconnect();
    };
  });

  afterAll(async () => {
    await close?.();
  });

  return server;
}
