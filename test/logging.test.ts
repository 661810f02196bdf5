import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { usersRepository } from '../src/db/users.js';
import { UNMATCHED_ROUTE } from '../src/http/logging.js';
import { hashToken } from '../src/security/tokens.js';
import { basic, createUser, uniqueName, type TestUser } from './support/factories.js';
import { readAnswer } from './support/http.js';
import { captureLogs } from './support/logs.js';
import { useServer } from './support/server.js';
import { until } from './support/wait.js';

const logs = captureLogs();
const server = useServer({}, { logger: logs.logger });

const requestId = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;

let viewer: TestUser;
beforeAll(async () => {
  viewer = await createUser(server);
});

describe('request log lines', () => {
  it('writes one line per request: request id, method, route template, status, duration, user id', async () => {
    const reqId = requestId('one-line');
    const res = await server.fetch('/api/users?page=1', { headers: { ...viewer.auth, 'X-Request-Id': reqId } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe(reqId);

    const lines = await logs.ofRequest(reqId);
    expect(lines).toEqual([
      {
        level: 30,
        time: expect.any(Number),
        service: 'microblog-api',
        pid: expect.any(Number),
        hostname: expect.any(String),
        reqId,
        method: 'GET',
        route: '/api/users',
        url: '/api/users?page=1',
        status: 200,
        durationMs: expect.any(Number),
        userId: viewer.id,
        msg: 'request completed',
      },
    ]);
  });

  it('logs the id it generated when the client sent none, the one it echoed', async () => {
    const res = await server.fetch('/api');
    const reqId = res.headers.get('x-request-id') ?? '';
    expect(reqId).toMatch(/^[0-9a-f-]{36}$/);
    const [line] = await logs.ofRequest(reqId);
    expect(line).toMatchObject({ method: 'GET', route: '/api', status: 200 });
    expect(line).not.toHaveProperty('userId');
  });

  it('logs HEAD as HEAD, though the app serves it as GET', async () => {
    const reqId = requestId('head');
    const res = await server.fetch(`/api/users/${viewer.id}`, { method: 'HEAD', headers: { ...viewer.auth, 'X-Request-Id': reqId } });
    expect(res.status).toBe(200);
    expect(await logs.ofRequest(reqId)).toEqual([expect.objectContaining({ method: 'HEAD', route: '/api/users/{id}', status: 200 })]);
  });

  it('names the route of a request that failed before its handler (401, 400)', async () => {
    const unauthorized = requestId('401');
    await server.fetch('/api/users/1', { headers: { 'X-Request-Id': unauthorized } });
    expect(await logs.ofRequest(unauthorized)).toEqual([expect.objectContaining({ level: 30, route: '/api/users/{id}', status: 401 })]);

    const invalid = requestId('400');
    await server.fetch('/api/users/abc', { headers: { ...viewer.auth, 'X-Request-Id': invalid } });
    expect(await logs.ofRequest(invalid)).toEqual([expect.objectContaining({ route: '/api/users/{id}', status: 400, userId: viewer.id })]);
  });

  it('logs a URL no route matched under one marker, not as its own route', async () => {
    for (const path of ['/api/nope/123', '/wp-login.php', '/api/users/1/../../etc/passwd']) {
      const reqId = requestId('unmatched');
      await server.fetch(path, { headers: { 'X-Request-Id': reqId } });
      expect(await logs.ofRequest(reqId)).toEqual([expect.objectContaining({ route: UNMATCHED_ROUTE, status: 404 })]);
    }
  });

  it('logs a request the client gave up on, marked aborted', async () => {
    const reqId = requestId('aborted');
    const { port } = new URL(server.baseUrl);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    // The head, asking to continue: the server's 100 Continue says the request has reached the app.
    const continued = new Promise<void>((resolve, reject) => {
      socket.once('data', (chunk: Buffer) =>
        chunk.toString('latin1').startsWith('HTTP/1.1 100 ') ? resolve() : reject(new Error(`not 100 Continue: ${chunk.toString('latin1')}`)),
      );
    });
    socket.write(
      `POST /api/users HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${reqId}\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n`,
    );
    await continued;
    // Half a body, then hang up.
    await new Promise<void>((resolve) => socket.write('{"username": "hal', () => resolve()));
    socket.destroy();
    expect(await logs.ofRequest(reqId)).toEqual([
      expect.objectContaining({ level: 40, method: 'POST', url: '/api/users', aborted: true, msg: 'request aborted' }),
    ]);
  });
});

describe('secrets in the log', () => {
  it('never writes a password, a token or credentials: registration, login, reads, password change, failures', async () => {
    const before = logs.text().length;
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const newPassword = `new-pw-${randomBytes(12).toString('hex')}`;
    const username = uniqueName('secret');
    const user = await createUser(server, { username, password });
    const basicHeader = basic(username, password);

    // A second login, a failed one, and bad bodies that carry a password.
    expect((await server.fetch('/api/tokens', { method: 'POST', headers: { Authorization: basicHeader } })).status).toBe(200);
    expect((await server.fetch('/api/tokens', { method: 'POST', headers: { Authorization: basic(username, `${password}x`) } })).status).toBe(401);
    const json = { 'Content-Type': 'application/json' };
    const badJson = `{"username": "${username}", "password": "${password}",}`;
    expect((await server.fetch('/api/users', { method: 'POST', headers: json, body: badJson })).status).toBe(400);
    expect((await server.fetch('/api/users', { method: 'POST', headers: json, body: JSON.stringify({ username, email: 'not an email', password }) })).status).toBe(400);

    // Reads with the token, in the header and (wrongly) in the query string.
    expect((await server.fetch(`/api/users/${user.id}`, { headers: user.auth })).status).toBe(200);
    expect((await server.fetch(`/api/users?access_token=${user.token}&page=1`, { headers: user.auth })).status).toBe(400);
    expect((await server.fetch(`/api/users/${user.id}`, { headers: { Authorization: `Bearer ${user.token}x` } })).status).toBe(401);

    // Password change: a wrong current password, then the right one.
    const change = (current: string) =>
      server.fetch(`/api/users/${user.id}`, {
        method: 'PUT',
        headers: { ...user.auth, ...json },
        body: JSON.stringify({ password: newPassword, current_password: current }),
      });
    expect((await change(`${password}x`)).status).toBe(403);
    expect((await change(password)).status).toBe(200);
    // Each of the 11 requests above (2 of them createUser's) has its line once its answer has gone out.
    const requestLines = () => logs.text().slice(before).split('\n').filter((line) => /"msg":"request (completed|aborted|errored)"/.test(line)).length;
    await until(() => `11 request lines written, not ${requestLines()}`, async () => requestLines() >= 11, 5_000);

    const written = logs.text().slice(before);
    expect(written.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(10);
    const secrets = {
      password,
      newPassword,
      token: user.token,
      basicHeader,
      basicCredentials: basicHeader.slice('Basic '.length),
      tokenHashHex: hashToken(user.token).toString('hex'),
      tokenHashBase64: hashToken(user.token).toString('base64'),
      argon2Hash: '$argon2',
    };
    for (const [name, secret] of Object.entries(secrets)) {
      expect({ name, found: written.includes(secret) }).toEqual({ name, found: false });
    }
    expect(written).toContain('access_token=[redacted]&page=1');
  });
});

describe('5xx errors in the log', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('logs a 500 once, with the stack and the request id; the client sees only the JSON error', async () => {
    const spy = vi.spyOn(usersRepository, 'findById').mockRejectedValueOnce(new Error('kaboom in the repository'));
    const reqId = requestId('500');
    const res = await readAnswer(
      await server.fetch(`/api/users/${viewer.id + 1_000_000}`, { headers: { ...viewer.auth, 'X-Request-Id': reqId } }),
    );
    expect(spy).toHaveBeenCalled();
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: 'Internal Server Error', message: expect.stringContaining('X-Request-Id') });
    expect(res.text).not.toContain('kaboom');

    const lines = await logs.ofRequest(reqId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 50,
      reqId,
      route: '/api/users/{id}',
      status: 500,
      userId: viewer.id,
      err: { type: 'Error', message: 'kaboom in the repository' },
    });
    const stack = (lines[0]?.err as { stack: string }).stack;
    expect(stack).toMatch(/^Error: kaboom in the repository\n\s+at /);
    expect(stack).toContain('logging.test.ts');
    expect(logs.lines().filter((line) => JSON.stringify(line).includes('kaboom'))).toHaveLength(1);
  });
});

describe('database errors in the log', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("logs a failed query's error, but not PostgreSQL's detail, which repeats the row and its password hash", async () => {
    // A bug that sends a row PostgreSQL refuses: its error's detail lists the row's values.
    const create = usersRepository.create.bind(usersRepository);
    const spy = vi
      .spyOn(usersRepository, 'create')
      .mockImplementationOnce((db, row) => create(db, { ...row, email: null as unknown as string }));
    const reqId = requestId('not-null');
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const username = uniqueName('detail');
    const res = await server.fetch('/api/users', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Request-Id': reqId },
      body: JSON.stringify({ username, email: `${username}@example.com`, password }),
    });
    expect(spy).toHaveBeenCalled();
    expect(res.status).toBe(500);

    const [line] = await logs.ofRequest(reqId);
    expect(line).toMatchObject({ level: 50, status: 500, err: { code: '23502', message: expect.stringContaining('violates not-null constraint') } });
    const written = logs.text();
    expect(written).not.toContain('Failing row contains');
    expect(written).not.toContain('$argon2');
    expect(written).not.toContain(password);
  });
});
