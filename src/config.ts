import { isIP } from 'node:net';
import { z } from 'zod';
import type { DbTimeouts } from './db/database.js';
import type { HttpLimits } from './server.js';

const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const port = z.coerce.number().int().min(0).max(65535);
const milliseconds = (min: number, fallback: number) => z.coerce.number().int().min(min).max(3_600_000).default(fallback);

/** A limit: how many in a window; 0 turns it off. */
const limit = (fallback: number) => z.coerce.number().int().min(0).max(1_000_000_000).default(fallback);
const windowSeconds = (fallback: number) => z.coerce.number().int().min(1).max(86_400).default(fallback);

/** Express's `trust proxy`: true/false, a hop count, or addresses, CIDR ranges and loopback/linklocal/uniquelocal. */
const trustProxy = z.string().transform((value, ctx): boolean | number | string[] => {
  if (value === 'true' || value === 'false') return value === 'true';
  if (/^\d+$/.test(value)) return Number(value);
  const entries = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = entries.find((entry) => !isTrustedProxy(entry));
  if (bad !== undefined || entries.length === 0) {
    ctx.addIssue({ code: 'custom', message: `must be true, false, a hop count, or a list of addresses and CIDR ranges (not ${JSON.stringify(bad ?? '')})` });
    return z.NEVER;
  }
  return entries;
});

function isTrustedProxy(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (!family || rest.length) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

/** CORS_ORIGINS: `*`, or origins such as https://app.example.com, comma-separated. */
const corsOrigins = z.string().transform((value, ctx): '*' | string[] => {
  if (value.trim() === '*') return '*';
  const origins = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = origins.find((origin) => !isOrigin(origin));
  if (bad !== undefined || origins.length === 0) {
    ctx.addIssue({ code: 'custom', message: `must be * or a list of origins like https://app.example.com (not ${JSON.stringify(bad ?? '')})` });
    return z.NEVER;
  }
  return origins;
});

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}

/** PASSWORD_RESET_URL: an http(s) URL with `{token}` where the reset token goes. */
const resetUrlTemplate = z.string().refine((value) => {
  if (!value.includes('{token}')) return false;
  try {
    const url = new URL(value.replaceAll('{token}', 'token'));
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an http(s) URL with {token} where the token goes, like https://app.example/reset?token={token}');

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port.default(5000),
  HOST: z.string().min(1).optional(),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: milliseconds(1, 65_000),
  HTTP_HEADERS_TIMEOUT_MS: milliseconds(1, 10_000),
  HTTP_REQUEST_TIMEOUT_MS: milliseconds(1, 70_000),
  MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).max(3_600_000).optional(),
  SHUTDOWN_TIMEOUT_MS: milliseconds(0, 10_000),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(1000).default(10),
  DATABASE_CONNECT_TIMEOUT_MS: milliseconds(100, 3000),
  DATABASE_STATEMENT_TIMEOUT_MS: milliseconds(0, 4000),
  DATABASE_QUERY_TIMEOUT_MS: milliseconds(100, 5000),
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: milliseconds(0, 10_000),
  DATABASE_KEEPALIVE_DELAY_MS: milliseconds(1000, 10_000),
  READINESS_TIMEOUT_MS: milliseconds(100, 2000),
  MIGRATE_ON_START: flag.default(true),
  EMBEDDED_PG_DATA_DIR: z.string().min(1).optional(),
  EMBEDDED_PG_PORT: port.min(1).optional(),
  RESPONSE_VALIDATION: flag.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(31_536_000).default(900),
  REFRESH_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(31_536_000).default(2_592_000),
  REFRESH_REUSE_GRACE_SECONDS: z.coerce.number().int().min(0).max(300).default(10),
  PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8).max(128).default(8),
  RATE_LIMIT_REQUESTS: limit(600),
  RATE_LIMIT_WINDOW_SECONDS: windowSeconds(60),
  RATE_LIMIT_FAILED_LOGINS_PER_ACCOUNT: limit(10),
  RATE_LIMIT_FAILED_LOGINS_PER_ADDRESS: limit(100),
  RATE_LIMIT_FAILED_LOGINS_WINDOW_SECONDS: windowSeconds(900),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_PREFIX: z.string().min(1).max(100).default('microblog-api:'),
  TRUST_PROXY: trustProxy.default(false),
  CORS_ORIGINS: corsOrigins.optional(),
  WEB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  RATE_LIMIT_PASSWORD_RESETS_PER_EMAIL: limit(5),
  RATE_LIMIT_PASSWORD_RESETS_PER_ADDRESS: limit(50),
  RATE_LIMIT_PASSWORD_RESETS_WINDOW_SECONDS: windowSeconds(3600),
  RATE_LIMIT_MESSAGES: limit(30),
  RATE_LIMIT_MESSAGES_WINDOW_SECONDS: windowSeconds(60),
  PASSWORD_RESET_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(900),
  PASSWORD_RESET_URL: resetUrlTemplate.optional(),
  SMTP_URL: z
    .string()
    .refine((value) => /^smtps?:\/\/[^/?#]+/.test(value) && URL.canParse(value), 'must be an smtp:// or smtps:// URL, like smtp://user:pass@host:587')
    .optional(),
  MAIL_FROM: z
    .string()
    .regex(/^[^\r\n]*@[^\r\n]*$/, 'must be an address, like Microblog <no-reply@example.com>')
    .default('Microblog <no-reply@localhost>'),
  METRICS_PORT: port.min(1).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  NOTIFICATIONS_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  NOTIFICATIONS_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(300).default(15),
  NOTIFICATIONS_STREAM_MAX_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  EXPORT_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(1000),
  EXPORT_STALLED_INTERVAL_MS: milliseconds(100, 30_000),
});

export type Env = z.input<typeof schema>;

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string | undefined;
  http: HttpLimits;
  /** How long a shutdown goes on serving (readiness failing) before it stops listening. */
  shutdownDelayMs: number;
  /** How long a shutdown then waits for requests in flight before cutting them off. */
  shutdownTimeoutMs: number;
  databaseUrl: string | undefined;
  databasePoolMax: number;
  /** How long to wait for a database connection before answering 503. */
  databaseConnectTimeoutMs: number;
  /** Bounds on each statement the server runs: past one, the request gets 503. */
  databaseTimeouts: DbTimeouts;
  /** Idle time of a database connection before TCP keepalive probes begin. */
  databaseKeepAliveDelayMs: number;
  /** How long /readyz waits for the database: a probe must answer before the prober gives up. */
  readinessTimeoutMs: number;
  migrateOnStart: boolean;
  /** The embedded PostgreSQL's data folder and port (a free one when undefined). */
  embeddedPg: { dataDir: string | undefined; port: number | undefined };
  /** Validate every response against the contract (a mismatch becomes a 500). */
  validateResponses: boolean;
  logLevel: string;
  /** How long access tokens live, and refresh tokens; how long an exchanged refresh token still gets the same answer. */
  sessions: { accessTtlSeconds: number; refreshTtlSeconds: number; reuseGraceSeconds: number };
  passwordMinLength: number;
  rateLimits: RateLimitConfig;
  /** Express's `trust proxy`: which X-Forwarded-* headers to believe. */
  trustProxy: boolean | number | string[];
  /** Origins allowed to call the API from a browser; undefined turns CORS off. */
  corsOrigins: '*' | string[] | undefined;
  /** Password hashes (logins, registrations, password changes) computed at once per process. */
  passwordHashConcurrency: number;
  /** Server processes (node:cluster workers); 1 serves from this process. */
  webConcurrency: number;
  /** Where GET /metrics is served, on a listener of its own; undefined turns metrics off. */
  metrics: { port: number; host: string } | undefined;
  passwordReset: PasswordResetConfig;
  mail: MailConfig;
  exports: ExportJobsConfig;
  notifications: NotificationsConfig;
}

/** How notifications reach their streams (GET /api/notifications/stream). */
export interface NotificationsConfig {
  /** Where this instance LISTENs; undefined: the database's own URL. */
  databaseUrl: string | undefined;
  /** A comment line this often on a quiet stream, so that proxies keep it open. */
  heartbeatSeconds: number;
  /** The longest a stream stays open; the client reconnects (with Last-Event-ID). */
  streamMaxSeconds: number;
}

export interface PasswordResetConfig {
  /** How long a reset token stays valid. */
  ttlSeconds: number;
  /** The link in the mail, `{token}` replaced by the token; undefined: the mail gives the token alone. */
  urlTemplate: string | undefined;
}

export interface MailConfig {
  /** Where mail goes by SMTP; undefined: mails are written to the log. */
  smtpUrl: string | undefined;
  from: string;
}

/** How exports of posts run (on Redis through BullMQ when rateLimits.redisUrl is set, else in-process). */
export interface ExportJobsConfig {
  /** Posts read and written per batch. */
  batchSize: number;
  /** How long a job whose worker went silent keeps its lock, and how often workers look for such jobs. */
  stalledIntervalMs: number;
}

/** A limit of 0 is off. */
export interface RateLimitConfig {
  /** Requests per client address per window, under /api. */
  requests: number;
  windowSeconds: number;
  failedLoginsPerAccount: number;
  failedLoginsPerAddress: number;
  failedLoginsWindowSeconds: number;
  /** Password reset requests per email address, and per client address, per window. */
  passwordResetsPerEmail: number;
  passwordResetsPerAddress: number;
  passwordResetsWindowSeconds: number;
  /** Private messages per sender per window. */
  messages: number;
  messagesWindowSeconds: number;
  /** Set to share the counts between instances. */
  redisUrl: string | undefined;
  redisPrefix: string;
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
  // Else the client gives up on a statement the server is still running, and on its connection.
  if (e.DATABASE_STATEMENT_TIMEOUT_MS > 0 && e.DATABASE_QUERY_TIMEOUT_MS <= e.DATABASE_STATEMENT_TIMEOUT_MS) {
    throw new ConfigError(
      `invalid DATABASE_QUERY_TIMEOUT_MS=${JSON.stringify(env.DATABASE_QUERY_TIMEOUT_MS ?? '')}: must be longer than DATABASE_STATEMENT_TIMEOUT_MS (${e.DATABASE_STATEMENT_TIMEOUT_MS})`,
    );
  }
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT === e.PORT) {
    throw new ConfigError(`invalid METRICS_PORT=${JSON.stringify(env.METRICS_PORT ?? '')}: must differ from PORT, which serves the API`);
  }
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    http: {
      keepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      maxConnections: e.MAX_CONNECTIONS,
    },
    // Long enough in production for balancers to see the failing readiness probe; elsewhere
    // just long enough to serve the connections already queued.
    shutdownDelayMs: e.SHUTDOWN_DELAY_MS ?? (e.NODE_ENV === 'production' ? 5000 : 300),
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    databaseConnectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
    databaseTimeouts: {
      statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      queryTimeoutMs: e.DATABASE_QUERY_TIMEOUT_MS,
      idleInTransactionTimeoutMs: e.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    },
    databaseKeepAliveDelayMs: e.DATABASE_KEEPALIVE_DELAY_MS,
    readinessTimeoutMs: e.READINESS_TIMEOUT_MS,
    migrateOnStart: e.MIGRATE_ON_START,
    embeddedPg: { dataDir: e.EMBEDDED_PG_DATA_DIR, port: e.EMBEDDED_PG_PORT },
    validateResponses: e.RESPONSE_VALIDATION ?? e.NODE_ENV !== 'production',
    logLevel: e.LOG_LEVEL,
    sessions: {
      accessTtlSeconds: e.TOKEN_TTL_SECONDS,
      refreshTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
      reuseGraceSeconds: e.REFRESH_REUSE_GRACE_SECONDS,
    },
    passwordMinLength: e.PASSWORD_MIN_LENGTH,
    rateLimits: {
      requests: e.RATE_LIMIT_REQUESTS,
      windowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
      failedLoginsPerAccount: e.RATE_LIMIT_FAILED_LOGINS_PER_ACCOUNT,
      failedLoginsPerAddress: e.RATE_LIMIT_FAILED_LOGINS_PER_ADDRESS,
      failedLoginsWindowSeconds: e.RATE_LIMIT_FAILED_LOGINS_WINDOW_SECONDS,
      passwordResetsPerEmail: e.RATE_LIMIT_PASSWORD_RESETS_PER_EMAIL,
      passwordResetsPerAddress: e.RATE_LIMIT_PASSWORD_RESETS_PER_ADDRESS,
      passwordResetsWindowSeconds: e.RATE_LIMIT_PASSWORD_RESETS_WINDOW_SECONDS,
      messages: e.RATE_LIMIT_MESSAGES,
      messagesWindowSeconds: e.RATE_LIMIT_MESSAGES_WINDOW_SECONDS,
      redisUrl: e.REDIS_URL,
      redisPrefix: e.REDIS_PREFIX,
    },
    trustProxy: e.TRUST_PROXY,
    corsOrigins: e.CORS_ORIGINS,
    webConcurrency: e.WEB_CONCURRENCY,
    passwordHashConcurrency: e.PASSWORD_HASH_CONCURRENCY,
    metrics: e.METRICS_PORT === undefined ? undefined : { port: e.METRICS_PORT, host: e.METRICS_HOST },
    passwordReset: { ttlSeconds: e.PASSWORD_RESET_TTL_SECONDS, urlTemplate: e.PASSWORD_RESET_URL },
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM },
    exports: { batchSize: e.EXPORT_BATCH_SIZE, stalledIntervalMs: e.EXPORT_STALLED_INTERVAL_MS },
    notifications: {
      databaseUrl: e.NOTIFICATIONS_DATABASE_URL,
      heartbeatSeconds: e.NOTIFICATIONS_HEARTBEAT_SECONDS,
      streamMaxSeconds: e.NOTIFICATIONS_STREAM_MAX_SECONDS,
    },
  };
}
