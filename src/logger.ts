import os from 'node:os';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Only these members of an error reach the log. Others can hold secrets: PostgreSQL's
 * `detail` repeats the values of the failing row (a password hash, say), knex puts a raw
 * query's `bindings` on its timeout errors, and body-parser the raw request `body` on its own.
 */
const ERROR_MEMBERS = ['type', 'message', 'stack', 'code', 'status', 'constraint', 'sql'] as const;

/** pino's error serializer (message and stack with their causes), keeping only ERROR_MEMBERS. */
export function serializeError(err: unknown): unknown {
  const full = pino.stdSerializers.err(err as Error) as unknown;
  if (full === null || typeof full !== 'object') return full;
  const source = full as Record<string, unknown>;
  const kept: Record<string, unknown> = {};
  for (const member of ERROR_MEMBERS) if (source[member] !== undefined) kept[member] = source[member];
  if (Array.isArray(source.errors)) {
    // express-openapi-validator's list: where and what, never the offending value
    kept.errors = (source.errors as { path?: unknown; message?: unknown }[]).map(({ path, message }) => ({ path, message }));
  }
  return kept;
}

/** JSON lines on stdout (or `destination`); secrets are redacted wherever they might appear. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'microblog-api', pid: process.pid, hostname: os.hostname() },
    serializers: { err: serializeError },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        'headers.cookie',
        '*.password',
        '*.current_password',
        '*.token',
        'password',
        'token',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
