import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type Daemon } from './daemon.js';
import { freePort } from './ports.js';
import { until } from './wait.js';

/** A real nginx in front of instances of the server, on a free port of 127.0.0.1. */
export interface Nginx {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  url: string;
  daemon: Daemon;
  /** Its error log so far (an upstream that timed out, say). */
  errorLog(): Promise<string>;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** The instances' ports on 127.0.0.1, balanced round robin. */
  upstreams: number[];
  /**
   * `proxy_read_timeout` of the event stream's location, in seconds: above
   * NOTIFICATIONS_HEARTBEAT_SECONDS, so that the heartbeats keep a quiet stream open
   * (docs/operations.md: 60 s against the default 15 s heartbeat).
   */
  streamReadTimeoutSeconds?: number;
}

/**
 * The configuration docs/operations.md gives operators ("Behind nginx"), with the test's own
 * paths and ports, plus `X-Upstream` (which instance answered) for the tests to look at.
 */
export function nginxConfig(dir: string, port: number, { upstreams, streamReadTimeoutSeconds = 60 }: NginxOptions): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream api {
${upstreams.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${port};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    add_header X-Upstream $upstream_addr always;
    location / {
      proxy_pass http://api;
    }
    # Server-Sent Events: each event passed on as it comes, and a quiet stream kept open
    # between heartbeats (NOTIFICATIONS_HEARTBEAT_SECONDS) for as long as the server holds it.
    location = /api/notifications/stream {
      proxy_pass http://api;
      proxy_buffering off;
      proxy_cache off;
      gzip off;
      proxy_read_timeout ${streamReadTimeoutSeconds}s;
    }
  }
}
`;
}

/**
 * The directives of `config` an operator copies: its upstream block and server block without
 * the addresses and ports (`server …:port;`, `listen`), comments, blank lines and the
 * test's own `X-Upstream` header, one per line, trimmed.
 */
export function operatorDirectives(config: string): string[] {
  const start = config.indexOf('upstream api {');
  if (start < 0) throw new Error(`no "upstream api" block in:\n${config}`);
  return config
    .slice(start)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#') && !/^(server \S+:\d+;|listen |add_header X-Upstream )/.test(line));
}

/** Writes the configuration to a folder of its own and starts nginx; resolves once it proxies. */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'microblog-nginx-'));
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(path.join(dir, sub));
  const port = await freePort();
  await writeFile(path.join(dir, 'nginx.conf'), nginxConfig(dir, port, options));
  const daemon = startDaemon('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], {
    PATH: `${process.env.PATH}:/usr/sbin`,
  });
  const url = `http://127.0.0.1:${port}`;
  const errorLog = () => readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
  const stop = async () => {
    await daemon.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await until(
      () => `nginx answering on ${url} (see ${dir}/error.log):\n${daemon.output()}`,
      async () => {
        if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
          throw new Error(`nginx exited (${daemon.child.exitCode ?? daemon.child.signalCode}):\n${daemon.output()}\n${await errorLog()}`);
        }
        // Not listening yet, until it answers.
        return fetch(`${url}/api`).then((res) => res.status < 500, () => false);
      },
      30_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, daemon, errorLog, stop };
}
