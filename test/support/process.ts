import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './ports.js';
import type { LogLine } from './logs.js';
import { until } from './wait.js';

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  /** The JSON lines it has written to stdout so far. */
  lines: LogLine[];
  /** Everything it wrote to stderr. */
  stderr(): string;
  /** The first log line (already written or still to come) that `match` accepts. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** How the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL, if it still runs. */
  kill(): Promise<void>;
}

export interface ProcessOptions {
  /** What to run (default: src/main.ts through tsx, as `npm start` would minus the build). */
  command?: [string, ...string[]];
  cwd?: string;
  /** Its own process group (as a terminal runs a job), which `-pid` signals reach whole. */
  detached?: boolean;
  /** Resolve at once rather than when it listens (for starts that are meant to fail). */
  noWait?: boolean;
}

/**
 * Runs the real server on a free port of 127.0.0.1 (PORT and HOST in `env` win) and
 * resolves once it listens. The environment is only PATH, HOME and what is given.
 */
export async function startServerProcess(env: Record<string, string>, options: ProcessOptions = {}): Promise<ServerProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const [command, ...args] = options.command ?? [process.execPath, '--import', 'tsx', 'src/main.ts'];
  const child = spawn(command, args, {
    cwd: options.cwd,
    detached: options.detached ?? false,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      MIGRATE_ON_START: 'false',
      HOST: '127.0.0.1',
      ...env,
      PORT: env.PORT ?? String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let pending = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const text = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        lines.push({ level: 0, msg: `(not JSON) ${text}` });
      }
    }
    for (const wake of waiters) wake();
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
      for (const wake of waiters) wake();
    }),
  );

  const waitForLine = (match: (line: LogLine) => boolean, timeoutMs = 20_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const found = lines.find(match);
        if (found) {
          done();
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(new Error(`server exited (${child.exitCode ?? child.signalCode}) first; stderr: ${stderr}; last lines: ${lines.slice(-3).map((l) => JSON.stringify(l).slice(0, 300)).join(' | ')}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no such log line within ${timeoutMs} ms; got: ${lines.map((l) => l.msg).join(' | ')}; stderr: ${stderr}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const server: ServerProcess = {
    child,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    lines,
    stderr: () => stderr,
    waitForLine,
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        if (options.detached && child.pid) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
        await exited;
      }
      // The rest of its group (npm's child, say) may outlive the leader by a moment.
      const pid = child.pid;
      if (options.detached && pid) await until(`process group ${pid} gone`, () => !groupAlive(pid), 2_000).catch(() => undefined);
    },
  };
  if (options.noWait) return server;
  try {
    await waitForLine((line) => typeof line.msg === 'string' && line.msg.startsWith('Microblog API on'), 120_000);
  } catch (err) {
    await server.kill();
    throw err;
  }
  return server;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether a process of this pid exists (a zombie counts). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
