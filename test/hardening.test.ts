import { describe, expect, it, vi } from 'vitest';
import { basic, uniqueName } from './support/factories.js';
import { PASSWORD } from './support/constants.js';
import { sender, type Answer } from './support/http.js';
import { useServer, type TestServer } from './support/server.js';

/** Every hash argon2 verified a password against, in order. */
const verified = vi.hoisted(() => [] as string[]);
vi.mock('@node-rs/argon2', async (importOriginal) => {
  const argon2 = await importOriginal<typeof import('@node-rs/argon2')>();
  return {
    ...argon2,
    verify: (hashed: string, password: string) => {
      verified.push(hashed);
      return argon2.verify(hashed, password);
    },
  };
});

const server = useServer();
const send = sender(server, { Accept: 'application/json' });

const API_CSP = "default-src 'none';base-uri 'none';form-action 'none';frame-ancestors 'none'";

async function register(on: TestServer): Promise<{ id: number; username: string; email: string }> {
  const username = uniqueName('hard');
  const email = `${username}@example.com`;
  const res = await on.api.POST('/api/users', { body: { username, email, password: PASSWORD } });
  if (!res.data) throw new Error(`registration failed: ${res.response.status}`);
  return { id: res.data.id, username, email };
}

function expectApiHeaders(res: Answer): void {
  expect(res.headers.get('content-security-policy')).toBe(API_CSP);
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
  expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  expect(res.headers.get('x-powered-by')).toBeNull();
  // Plain HTTP: RFC 6797 forbids Strict-Transport-Security here.
  expect(res.headers.get('strict-transport-security')).toBeNull();
}

describe('security headers', () => {
  it('are on JSON answers, success and error alike', async () => {
    const { username } = await register(server);
    for (const res of [
      await send('GET', '/api'),
      await send('GET', '/api/users/1'),
      await send('POST', '/api/tokens', { headers: { Authorization: basic(username, 'wrong password') } }),
      await send('GET', '/api/nothing-here'),
      await send('PATCH', '/api'),
    ]) {
      expectApiHeaders(res);
    }
  });

  it('are on the HTML error pages outside /api and on the contract', async () => {
    expectApiHeaders(await send('GET', '/nowhere', { headers: { Accept: 'text/html' } }));
    expectApiHeaders(await send('GET', '/api/openapi.json'));
  });

  it('let the docs page load its own scripts, styles and images, and nothing from elsewhere', async () => {
    const page = await send('GET', '/api/docs/', { headers: { Accept: 'text/html' } });
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp.split(';')).toEqual([
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' data:",
      "font-src 'self' data:",
      "connect-src 'self'",
      "object-src 'none'",
      "base-uri 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ]);
    // script-src 'self' allows no inline script: every script must be a file of its own.
    const scripts = [...page.text.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1] ?? '');
    expect(scripts.length).toBeGreaterThan(0);
    for (const attributes of scripts) expect(attributes).toMatch(/\bsrc=/);
    const assets = [...page.text.matchAll(/(?:src|href)="\.\/([^"]+)"/g)].map((m) => m[1]);
    expect(assets).toEqual(expect.arrayContaining(['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-init.js']));
    for (const asset of assets) {
      const res = await send('GET', `/api/docs/${asset}`, { headers: { Accept: '*/*' } });
      expect(res.status, asset).toBe(200);
    }
  });

  it('send the docs options to Swagger UI, with no validator badge calling validator.swagger.io', async () => {
    const init = await send('GET', '/api/docs/swagger-ui-init.js', { headers: { Accept: '*/*' } });
    expect(init.status).toBe(200);
    expect(init.text).toMatch(/"validatorUrl": null/);
    expect(init.text).toMatch(/"persistAuthorization": true/);
  });
});

describe('Strict-Transport-Security', () => {
  describe('behind a proxy trusted with TRUST_PROXY', () => {
    const proxied = useServer({ TRUST_PROXY: 'loopback' });

    it('is sent when the client came over HTTPS (X-Forwarded-Proto), and only then', async () => {
      const secure = await send('GET', '/api', { headers: { 'X-Forwarded-Proto': 'https' } }, proxied);
      expect(secure.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
      const plain = await send('GET', '/api', { headers: { 'X-Forwarded-Proto': 'http' } }, proxied);
      expect(plain.headers.get('strict-transport-security')).toBeNull();
    });
  });

  it('is not sent because of an X-Forwarded-Proto nobody is trusted to set', async () => {
    const res = await send('GET', '/api', { headers: { 'X-Forwarded-Proto': 'https' } });
    expect(res.headers.get('strict-transport-security')).toBeNull();
  });
});

const ALLOWED = 'https://app.example.com';
const preflight = (on: TestServer, origin: string, path = '/api/users/1') =>
  send('OPTIONS', path, {
    headers: { Origin: origin, 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'authorization,if-match,content-type' },
  }, on);
const corsHeaders = (res: Answer) => [...res.headers.keys()].filter((name) => name.startsWith('access-control-'));

describe('CORS', () => {
  describe('without CORS_ORIGINS', () => {
    it('sends no Access-Control-* header to another origin', async () => {
      const res = await send('GET', '/api', { headers: { Origin: ALLOWED } });
      expect(res.status).toBe(200);
      expect(corsHeaders(res)).toEqual([]);
    });

    it('answers a preflight as any OPTIONS: 405 with Allow and no Access-Control-* header', async () => {
      const res = await preflight(server, ALLOWED);
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')?.split(', ').sort()).toEqual(['GET', 'HEAD', 'PUT']);
      expect(corsHeaders(res)).toEqual([]);
    });
  });

  describe('with CORS_ORIGINS listing origins', () => {
    const open = useServer({ CORS_ORIGINS: `${ALLOWED}, https://admin.example.com`, RATE_LIMIT_REQUESTS: '3', TRUST_PROXY: 'loopback' });

    it('answers a preflight from a listed origin with 204 and what it may send', async () => {
      const res = await preflight(open, ALLOWED);
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
      expect(res.headers.get('access-control-allow-methods')).toBe('GET,HEAD,PUT,POST,DELETE');
      expect(res.headers.get('access-control-allow-headers')).toBe('Authorization,Content-Type,If-Match,If-None-Match,Idempotency-Key,X-Request-Id,X-Requested-With');
      expect(res.headers.get('access-control-max-age')).toBe('600');
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);
    });

    it('answers a preflight from any other origin with 204 and no Access-Control-* header', async () => {
      const res = await preflight(open, 'https://evil.example.net');
      expect(res.status).toBe(204);
      expect(corsHeaders(res)).toEqual([]);
      expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);
    });

    it('lets a listed origin read the answer and its headers', async () => {
      const res = await send('GET', '/api', { headers: { Origin: 'https://admin.example.com', 'X-Forwarded-For': '192.0.2.10' } }, open);
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('https://admin.example.com');
      expect(res.headers.get('access-control-expose-headers')).toBe(
        'ETag,Location,Retry-After,RateLimit,RateLimit-Policy,WWW-Authenticate,X-Request-Id,Idempotent-Replayed',
      );
      expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);
    });

    it('gives another origin nothing that lets its script read the answer', async () => {
      const res = await send('GET', '/api', { headers: { Origin: 'https://evil.example.net', 'X-Forwarded-For': '192.0.2.11' } }, open);
      expect(res.status).toBe(200);
      expect(corsHeaders(res)).toEqual([]);
      expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);
    });

    it('lets a listed origin read a 429 and its Retry-After, and does not count preflights', async () => {
      const headers = { Origin: ALLOWED, 'X-Forwarded-For': '192.0.2.12' };
      for (let i = 0; i < 5; i++) expect((await preflight(open, ALLOWED)).status).toBe(204);
      for (let i = 0; i < 3; i++) expect((await send('GET', '/api', { headers }, open)).status).toBe(200);
      const res = await send('GET', '/api', { headers }, open);
      expect(res.status).toBe(429);
      expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
      expect(res.headers.get('access-control-expose-headers')).toContain('Retry-After');
    });

    it('leaves an OPTIONS that is no preflight to the contract: 405', async () => {
      const res = await send('OPTIONS', '/api/users/1', { headers: { 'X-Forwarded-For': '192.0.2.13' } }, open);
      expect(res.status).toBe(405);
    });
  });

  describe('with CORS_ORIGINS=*', () => {
    const open = useServer({ CORS_ORIGINS: '*' });

    it('lets any origin read every answer, and answers its preflights', async () => {
      const res = await send('GET', '/api', { headers: { Origin: 'https://anywhere.example.org' } }, open);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      const answer = await preflight(open, 'https://anywhere.example.org');
      expect(answer.status).toBe(204);
      expect(answer.headers.get('access-control-allow-origin')).toBe('*');
      expect(answer.headers.get('access-control-allow-headers')).toContain('Idempotency-Key');
    });
  });
});

describe('the cost of a failed login', () => {
  const argon2idParameters = (hash: string | undefined) => /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$/.exec(hash ?? '')?.[0];

  it('is one argon2id verification of the same cost whether or not the account exists', async () => {
    const { id, username, email } = await register(server);
    const row = await server.db('users').where({ id }).first<{ password_hash: string }>('password_hash');
    const parameters = argon2idParameters(row?.password_hash);
    expect(parameters).toBe('$argon2id$v=19$m=19456,t=2,p=1$');
    const answers: Answer[] = [];
    for (const login of [username, email, uniqueName('ghost'), `${uniqueName('ghost')}@example.com`, 'x'.repeat(300), 'nul\0byte']) {
      verified.length = 0;
      const res = await send('POST', '/api/tokens', { headers: { Authorization: basic(login, 'a wrong password') } });
      answers.push(res);
      expect(verified, login).toHaveLength(1);
      expect(argon2idParameters(verified[0])).toBe(parameters);
    }
    for (const res of answers) {
      expect(res.status).toBe(401);
      expect(res.text).toBe(answers[0]?.text);
      expect(res.headers.get('www-authenticate')).toBe(answers[0]?.headers.get('www-authenticate'));
    }
  });
});
