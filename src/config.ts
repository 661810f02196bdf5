import { z } from 'zod';
import type { HttpTimeouts } from './server.js';

const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const port = z.coerce.number().int().min(0).max(65535);
const milliseconds = (min: number, fallback: number) => z.coerce.number().int().min(min).max(3_600_000).default(fallback);

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port.default(5000),
  HOST: z.string().min(1).optional(),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: milliseconds(1, 65_000),
  HTTP_HEADERS_TIMEOUT_MS: milliseconds(1, 66_000),
  HTTP_REQUEST_TIMEOUT_MS: milliseconds(1, 70_000),
  SHUTDOWN_TIMEOUT_MS: milliseconds(0, 10_000),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(1000).default(10),
  DATABASE_CONNECT_TIMEOUT_MS: milliseconds(100, 3000),
  MIGRATE_ON_START: flag.default(true),
  EMBEDDED_PG_DATA_DIR: z.string().min(1).optional(),
  EMBEDDED_PG_PORT: port.default(54329),
  RESPONSE_VALIDATION: flag.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(31_536_000).default(3600),
  PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8).max(128).default(8),
});

export type Env = z.input<typeof schema>;

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string | undefined;
  http: HttpTimeouts;
  /** How long a shutdown waits for requests in flight before cutting them off. */
  shutdownTimeoutMs: number;
  databaseUrl: string | undefined;
  databasePoolMax: number;
  /** How long to wait for a database connection before answering 503. */
  databaseConnectTimeoutMs: number;
  migrateOnStart: boolean;
  embeddedPg: { dataDir: string | undefined; port: number };
  /** Validate every response against the contract (a mismatch becomes a 500). */
  validateResponses: boolean;
  logLevel: string;
  tokenTtlSeconds: number;
  passwordMinLength: number;
}

export class ConfigError extends Error {}

/** Parses the environment into a Config; throws a ConfigError naming the first bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(`invalid ${name}=${JSON.stringify(env[name] ?? '')}: ${issue?.message}`);
  }
  const e = parsed.data;
  if (e.HTTP_HEADERS_TIMEOUT_MS > e.HTTP_REQUEST_TIMEOUT_MS) {
    throw new ConfigError(
      `invalid HTTP_HEADERS_TIMEOUT_MS=${JSON.stringify(env.HTTP_HEADERS_TIMEOUT_MS ?? '')}: must not be longer than HTTP_REQUEST_TIMEOUT_MS (${e.HTTP_REQUEST_TIMEOUT_MS})`,
    );
  }
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    http: {
      keepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    databaseConnectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
    migrateOnStart: e.MIGRATE_ON_START,
    embeddedPg: { dataDir: e.EMBEDDED_PG_DATA_DIR, port: e.EMBEDDED_PG_PORT },
    validateResponses: e.RESPONSE_VALIDATION ?? e.NODE_ENV !== 'production',
    logLevel: e.LOG_LEVEL,
    tokenTtlSeconds: e.TOKEN_TTL_SECONDS,
    passwordMinLength: e.PASSWORD_MIN_LENGTH,
  };
}
