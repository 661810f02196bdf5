import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('configuration', () => {
  it('has working defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 5000,
      databaseUrl: undefined,
      migrateOnStart: true,
      validateResponses: true,
      tokenTtlSeconds: 3600,
      passwordMinLength: 8,
      embeddedPg: { port: 54329 },
      webConcurrency: 1,
      passwordHashConcurrency: 1,
    });
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
    ['WEB_CONCURRENCY', '0'],
    ['WEB_CONCURRENCY', 'many'],
    ['PASSWORD_HASH_CONCURRENCY', '0'],
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
