import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, inject } from 'vitest';
import { createMicroblogClient, type MicroblogClient } from '../../sdk/typescript/src/index.js';
import { createApp } from '../../src/app.js';
import { createNotificationHub } from '../../src/services/notifications.js';
import { loadConfig } from '../../src/config.js';
import { loadContract } from '../../src/contract.js';
import { closeDb, openDb, poolUsage, type Db } from '../../src/db/database.js';
import type { Tasks } from '../../src/jobs.js';
import { createExportJobs } from '../../src/export-jobs.js';
import { createLogger, type Logger } from '../../src/logger.js';
import type { Metrics } from '../../src/metrics.js';
import { openRedis } from '../../src/redis.js';
import { createHttpServer } from '../../src/server.js';

export interface TestServer {
  /** http://127.0.0.1:<port>, no trailing slash. */
  baseUrl: string;
  /**
   * The TypeScript SDK's client (openapi-fetch over the contract's types), with no token:
   * typed calls give responses as the server sent them, so tests compile against the contract.
   */
  api: MicroblogClient;
  /** Direct database access, for arranging what the API cannot (expired tokens, say). */
  db: Db;
  /** A raw request through real HTTP, for what a typed client cannot send. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

export interface ServerOptions {
  /** Where the app logs (default: nowhere, or TEST_LOG_LEVEL on stdout). */
  logger?: Logger;
  /** Where the app counts requests, refusals, failed logins and its pool's use. */
  metrics?: Metrics;
  /** Where the app leaves work for after its answers (reset mails), so a test can wait for it to end. */
  tasks?: Tasks;
}

/**
 * Limits no ordinary test file reaches, though every request still passes the limiters
 * (and their headers the contract); the rate-limit tests set small ones.
 */
const GENEROUS_LIMITS = {
  RATE_LIMIT_REQUESTS: '1000000',
  RATE_LIMIT_FAILED_LOGINS_PER_ACCOUNT: '1000000',
  RATE_LIMIT_FAILED_LOGINS_PER_ADDRESS: '1000000',
  RATE_LIMIT_PASSWORD_RESETS_PER_EMAIL: '1000000',
  RATE_LIMIT_PASSWORD_RESETS_PER_ADDRESS: '1000000',
  RATE_LIMIT_MESSAGES: '1000000',
};

/**
 * Starts the app on a free port for the current test file, with response validation
 * on: any answer that drifts from openapi.yaml becomes a 500 and fails the test.
 */
export function useServer(env: Record<string, string> | (() => Record<string, string>) = {}, options: ServerOptions = {}): TestServer {
  const server = {} as TestServer;
  let close: () => Promise<void>;

  beforeAll(async () => {
    // A function is read here, once the file's earlier beforeAll hooks have run (an SMTP
    // server they started, say, whose port the environment names).
    const config = loadConfig({ NODE_ENV: 'test', RESPONSE_VALIDATION: 'true', ...GENEROUS_LIMITS, ...(typeof env === 'function' ? env() : env) });
    const logger = options.logger ?? createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
    const db = openDb({ url: inject('databaseUrl'), poolMax: 20, logger });
    const redis = config.rateLimits.redisUrl ? openRedis(config.rateLimits.redisUrl, logger) : undefined;
    options.metrics?.watchPool(() => poolUsage(db));
    // In-process exports, run as they are asked for; not started, so that it takes up no
    // other test file's unfinished exports from the shared database.
    const exportJobs = createExportJobs({ db, logger, config: config.exports });
    const notifications = createNotificationHub({ url: inject('databaseUrl'), logger });
    const app = createApp({ db, config, contract: loadContract(), logger, redis, metrics: options.metrics, tasks: options.tasks, exports: exportJobs.queue, notifications });
    // The server main.ts runs (its answers to what Node refuses early, its timeouts), not app.listen's.
    const { server: http } = createHttpServer(app, config.http);
    http.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => http.once('listening', () => resolve()));
    const baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    Object.assign(server, {
      baseUrl,
      db,
      // Each request as the test wrote it: no Idempotency-Key added, no retry hiding a 503.
      api: createMicroblogClient({ baseUrl, retry: false }),
      fetch: (path: string, init?: RequestInit) => fetch(baseUrl + path, init),
    });
    close = async () => {
      await notifications.close();
      await exportJobs.stop();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await closeDb(db);
      redis?.disconnect();
    };
  });

  afterAll(async () => {
    await close?.();
  });

  return server;
}
