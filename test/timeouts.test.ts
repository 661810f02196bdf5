import net from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startServerProcess, type ServerProcess } from './support/process.js';

/**
 * Slow clients against the real server process, with its timeouts set small through the
 * environment so that the test is short: a client that never finishes its request is
 * hung up on, and the others are served meanwhile.
 */

let server: ServerProcess;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  server = await startServerProcess({
    DATABASE_URL: inject('databaseUrl'),
    HTTP_HEADERS_TIMEOUT_MS: '1000',
    HTTP_REQUEST_TIMEOUT_MS: '2000',
    HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000',
  });
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await server?.kill();
});

interface SlowClient {
  /** What the server sent, once it closed the connection (the client never does). */
  closed: Promise<string>;
}

/** Opens a connection and writes `first`, then one byte of `drip` every 100 ms, until the server hangs up. */
async function slowClient(first: string, drip: string): Promise<SlowClient> {
  const socket = net.connect(server.port, '127.0.0.1');
  sockets.add(socket);
  await new Promise((resolve) => socket.once('connect', resolve));
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  socket.write(first);
  let sent = 0;
  const timer = setInterval(() => {
    if (!socket.destroyed && socket.writable) socket.write(drip[sent++ % drip.length] ?? 'x');
  }, 100);
  const closed = new Promise<string>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      sockets.delete(socket);
      resolve(received);
    }),
  );
  return { closed };
}

async function served(): Promise<number> {
  const res = await fetch(`${server.baseUrl}/api`);
  await res.text();
  return res.status;
}

describe('a client that sends its headers slowly (slowloris)', () => {
  it('is answered 408 and hung up on after HTTP_HEADERS_TIMEOUT_MS, while other clients are served', async () => {
    const slow = await Promise.all(
      Array.from({ length: 10 }, () => slowClient('GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', 'abcdefgh')),
    );
    // Meanwhile, everyone else is served.
    expect(await Promise.all([served(), served(), served()])).toEqual([200, 200, 200]);

    for (const client of slow) expect(await client.closed).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(await served()).toBe(200);
  });
});

describe('a client that never finishes its body', () => {
  it('is answered 408 and hung up on after HTTP_REQUEST_TIMEOUT_MS, while other clients are served', async () => {
    const slow = await slowClient(
      'POST /api/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{"username": "',
      'slowloris',
    );
    expect(await served()).toBe(200);
    expect(await slow.closed).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });
});

describe('an idle keep-alive connection', () => {
  it('is announced with HTTP_KEEP_ALIVE_TIMEOUT_MS and closed by the server once idle that long', async () => {
    const socket = net.connect(server.port, '127.0.0.1');
    sockets.add(socket);
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await closed;
    expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(received).toMatch(/\r\nKeep-Alive: timeout=1\r\n/i);
    expect(received).toMatch(/\r\nConnection: keep-alive\r\n/i);
  });
});
