import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout; secrets are redacted wherever they might appear. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'microblog-api' },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        '*.password',
        '*.current_password',
        '*.token',
        'password',
        'token',
      ],
      censor: '[redacted]',
    },
  });
}
