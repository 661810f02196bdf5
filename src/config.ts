import { z } from 'zod';

const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const port = z.coerce.number().int().min(0).max(65535);

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port.default(5000),
  HOST: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(1000).default(10),
  MIGRATE_ON_START: flag.default(true),
  EMBEDDED_PG_DATA_DIR: z.string().min(1).optional(),
  EMBEDDED_PG_PORT: port.default(54329),
  RESPONSE_VALIDATION: flag.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(31_536_000).default(3600),
  PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8).max(128).default(8),
  WEB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
});

export type Env = z.input<typeof schema>;

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string | undefined;
  databaseUrl: string | undefined;
  databasePoolMax: number;
  migrateOnStart: boolean;
  embeddedPg: { dataDir: string | undefined; port: number };
  /** Validate every response against the contract (a mismatch becomes a 500). */
  validateResponses: boolean;
  logLevel: string;
  tokenTtlSeconds: number;
  passwordMinLength: number;
  /** Password hashes (logins, registrations, password changes) computed at once per process. */
  passwordHashConcurrency: number;
  /** Server processes (node:cluster workers); 1 serves from this process. */
  webConcurrency: number;
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
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    migrateOnStart: e.MIGRATE_ON_START,
    embeddedPg: { dataDir: e.EMBEDDED_PG_DATA_DIR, port: e.EMBEDDED_PG_PORT },
    validateResponses: e.RESPONSE_VALIDATION ?? e.NODE_ENV !== 'production',
    logLevel: e.LOG_LEVEL,
    tokenTtlSeconds: e.TOKEN_TTL_SECONDS,
    passwordMinLength: e.PASSWORD_MIN_LENGTH,
    webConcurrency: e.WEB_CONCURRENCY,
    passwordHashConcurrency: e.PASSWORD_HASH_CONCURRENCY,
  };
}
