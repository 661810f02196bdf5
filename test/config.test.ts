import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { maskPassword } from '../src/db/open.js';

describe('configuration', () => {
  it('has working defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 5000,
      databaseUrl: undefined,
      migrateOnStart: true,
      validateResponses: true,
      sessions: { accessTtlSeconds: 900, refreshTtlSeconds: 2_592_000, reuseGraceSeconds: 10 },
      passwordMinLength: 8,
      // No fixed port: the embedded database picks a free one, so a taken 54329 cannot stop it.
      embeddedPg: { port: undefined, dataDir: undefined },
      databaseConnectTimeoutMs: 3000,
      shutdownDelayMs: 300,
      shutdownTimeoutMs: 10_000,
      // Idle connections outlive a load balancer's (60 s on most), which closes them first;
      // a proxy sends a request's headers at once, and Node does not count the idle time.
      http: { keepAliveTimeoutMs: 65_000, headersTimeoutMs: 10_000, requestTimeoutMs: 70_000, maxConnections: 1000 },
      webConcurrency: 1,
      passwordHashConcurrency: 1,
      metrics: undefined,
    });
  });

  it('mails password resets through SMTP_URL, or to the log without it, with a 15-minute token by default', () => {
    expect(loadConfig({})).toMatchObject({
      passwordReset: { ttlSeconds: 900, urlTemplate: undefined },
      mail: { smtpUrl: undefined, from: 'Microblog <no-reply@localhost>' },
      rateLimits: { passwordResetsPerEmail: 5, passwordResetsPerAddress: 50, passwordResetsWindowSeconds: 3600 },
    });
    const set = loadConfig({
      SMTP_URL: 'smtp://user:pass@mail.example.com:587',
      MAIL_FROM: 'Microblog <no-reply@example.com>',
      PASSWORD_RESET_TTL_SECONDS: '600',
      PASSWORD_RESET_URL: 'https://app.example/reset?token={token}',
    });
    expect(set.mail).toEqual({ smtpUrl: 'smtp://user:pass@mail.example.com:587', from: 'Microblog <no-reply@example.com>' });
    expect(set.passwordReset).toEqual({ ttlSeconds: 600, urlTemplate: 'https://app.example/reset?token={token}' });
  });

  it.each([
    ['SMTP_URL', 'mail.example.com:587', /^invalid SMTP_URL="mail.example.com:587": must be an smtp:\/\/ or smtps:\/\/ URL/],
    ['SMTP_URL', 'http://mail.example.com', /^invalid SMTP_URL=/],
    ['PASSWORD_RESET_URL', 'https://app.example/reset', /^invalid PASSWORD_RESET_URL="https:\/\/app.example\/reset": must be an http\(s\) URL with \{token\}/],
    ['PASSWORD_RESET_URL', 'javascript:alert({token})', /^invalid PASSWORD_RESET_URL=/],
    ['PASSWORD_RESET_TTL_SECONDS', '10', /^invalid PASSWORD_RESET_TTL_SECONDS="10"/],
    ['MAIL_FROM', 'nobody', /^invalid MAIL_FROM="nobody": must be an address/],
  ])('refuses %s=%s with one line naming it', (name, value, message) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('serves metrics on METRICS_PORT, on 127.0.0.1 unless METRICS_HOST says otherwise, never on PORT', () => {
    expect(loadConfig({ METRICS_PORT: '9464' }).metrics).toEqual({ port: 9464, host: '127.0.0.1' });
    expect(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '10.0.0.5' }).metrics).toEqual({ port: 9464, host: '10.0.0.5' });
    expect(() => loadConfig({ PORT: '8080', METRICS_PORT: '8080' })).toThrow(/^invalid METRICS_PORT="8080": must differ from PORT/);
  });

  it('goes on serving for five seconds after SIGTERM in production, long enough for a balancer to notice', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).shutdownDelayMs).toBe(5000);
    expect(loadConfig({ NODE_ENV: 'production', SHUTDOWN_DELAY_MS: '0' }).shutdownDelayMs).toBe(0);
  });

  it('refuses a headers timeout longer than the request timeout, which Node would throw on', () => {
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '4000' })).toThrow(
      /^invalid HTTP_HEADERS_TIMEOUT_MS="5000": must not be longer than HTTP_REQUEST_TIMEOUT_MS/,
    );
    expect(loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '4000', HTTP_REQUEST_TIMEOUT_MS: '4000' }).http.headersTimeoutMs).toBe(4000);
  });

  it('bounds every database wait by default, the client waiting longer than the server lets a statement run', () => {
    expect(loadConfig({})).toMatchObject({
      databaseTimeouts: { statementTimeoutMs: 4000, queryTimeoutMs: 5000, idleInTransactionTimeoutMs: 10_000 },
      databaseKeepAliveDelayMs: 10_000,
      readinessTimeoutMs: 2000,
    });
    // 0 leaves the setting to the server (PgBouncer, say, refuses these startup parameters).
    expect(loadConfig({ DATABASE_STATEMENT_TIMEOUT_MS: '0', DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '0', DATABASE_QUERY_TIMEOUT_MS: '500' }).databaseTimeouts).toEqual({
      statementTimeoutMs: 0,
      queryTimeoutMs: 500,
      idleInTransactionTimeoutMs: 0,
    });
  });

  it('refuses a query timeout no longer than the statement timeout, which would give up on statements the server still runs', () => {
    expect(() => loadConfig({ DATABASE_STATEMENT_TIMEOUT_MS: '5000', DATABASE_QUERY_TIMEOUT_MS: '5000' })).toThrow(
      /^invalid DATABASE_QUERY_TIMEOUT_MS="5000": must be longer than DATABASE_STATEMENT_TIMEOUT_MS \(5000\)$/,
    );
    expect(() => loadConfig({ DATABASE_STATEMENT_TIMEOUT_MS: '8000' })).toThrow(/^invalid DATABASE_QUERY_TIMEOUT_MS="": must be longer than/);
  });

  it('limits requests and failed logins in memory by default, trusts no proxy, and has CORS off', () => {
    expect(loadConfig({})).toMatchObject({
      rateLimits: {
        requests: 600,
        windowSeconds: 60,
        failedLoginsPerAccount: 10,
        failedLoginsPerAddress: 100,
        failedLoginsWindowSeconds: 900,
        redisUrl: undefined,
        redisPrefix: 'microblog-api:',
      },
      trustProxy: false,
      corsOrigins: undefined,
    });
  });

  it.each([
    ['true', true],
    ['false', false],
    ['1', 1],
    ['loopback', ['loopback']],
    ['10.0.0.0/8, 192.0.2.1,2001:db8::/32', ['10.0.0.0/8', '192.0.2.1', '2001:db8::/32']],
  ])('reads TRUST_PROXY=%s as Express wants it', (value, expected) => {
    expect(loadConfig({ TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it('reads CORS_ORIGINS as * or a list of origins', () => {
    expect(loadConfig({ CORS_ORIGINS: '*' }).corsOrigins).toBe('*');
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:3000' }).corsOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:3000',
    ]);
  });

  it('turns response validation off in production unless asked for', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).validateResponses).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', RESPONSE_VALIDATION: 'true' }).validateResponses).toBe(true);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['MIGRATE_ON_START', 'maybe'],
    ['TOKEN_TTL_SECONDS', '5'],
    ['PASSWORD_MIN_LENGTH', '4'],
    ['LOG_LEVEL', 'loud'],
    ['NODE_ENV', 'staging'],
    ['SHUTDOWN_TIMEOUT_MS', '-1'],
    ['SHUTDOWN_DELAY_MS', 'later'],
    ['EMBEDDED_PG_PORT', '0'],
    ['HTTP_KEEP_ALIVE_TIMEOUT_MS', 'soon'],
    ['HTTP_REQUEST_TIMEOUT_MS', '0'],
    ['MAX_CONNECTIONS', '0'],
    ['MAX_CONNECTIONS', 'unlimited'],
    ['DATABASE_CONNECT_TIMEOUT_MS', '5'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '-1'],
    ['DATABASE_QUERY_TIMEOUT_MS', '0'],
    ['DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS', 'never'],
    ['DATABASE_KEEPALIVE_DELAY_MS', '10'],
    ['READINESS_TIMEOUT_MS', '0'],
    ['RATE_LIMIT_REQUESTS', '-1'],
    ['RATE_LIMIT_REQUESTS', 'many'],
    ['RATE_LIMIT_WINDOW_SECONDS', '0'],
    ['RATE_LIMIT_FAILED_LOGINS_PER_ACCOUNT', '2.5'],
    ['RATE_LIMIT_FAILED_LOGINS_WINDOW_SECONDS', '100000'],
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['TRUST_PROXY', 'yes please'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['TRUST_PROXY', '10.0.0.1,,nonsense'],
    ['CORS_ORIGINS', 'https://app.example.com/path'],
    ['CORS_ORIGINS', 'app.example.com'],
    ['CORS_ORIGINS', 'https://a.example.com, ftp://b.example.com'],
    ['WEB_CONCURRENCY', '0'],
    ['WEB_CONCURRENCY', 'many'],
    ['PASSWORD_HASH_CONCURRENCY', '0'],
    ['METRICS_PORT', '0'],
    ['METRICS_PORT', 'metrics'],
  ])('rejects %s=%s with a one-line message naming it', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(new RegExp(`^invalid ${name}=`));
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('starting with a bad variable', () => {
  it('stops the process with a one-line message naming it', async () => {
    const { spawnSync } = await import('node:child_process');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, PORT: 'eighty', DATABASE_URL: 'postgres://127.0.0.1:1/none' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toMatch(/^microblog-api: invalid PORT="eighty": .+$/);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('maskPassword', () => {
  it('masks the password of a database URL wherever pg reads one: user info and query string', () => {
    expect(maskPassword('postgres://app:s3cret@db:5432/microblog')).toBe('postgres://app:****@db:5432/microblog');
    expect(maskPassword('postgres://app@db/microblog?password=s3cret&sslmode=require&sslpassword=k3y')).toBe(
      'postgres://app@db/microblog?password=****&sslmode=require&sslpassword=****',
    );
  });
});
