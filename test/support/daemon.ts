import { spawn, type ChildProcess } from 'node:child_process';

/** A service the system tests run themselves (PgBouncer, Prometheus), on loopback. */
export interface Daemon {
  child: ChildProcess;
  /** What it wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves once its output matches `pattern`; rejects if it exits first or `timeoutMs` passes. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL if it is still running 10 s later; resolves once it has exited. */
  stop(): Promise<void>;
}

/** Starts `command`; its environment is this process's plus `env`. */
export function startDaemon(command: string, args: string[], env: Record<string, string> = {}): Daemon {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const waiters = new Set<() => void>();
  const heard = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const wake of waiters) wake();
  };
  child.stdout?.on('data', heard);
  child.stderr?.on('data', heard);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
      for (const wake of waiters) wake();
    });
    child.once('error', (err) => {
      output += `\n${command}: ${err.message}`;
      resolve();
      for (const wake of waiters) wake();
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null && child.pid !== undefined;

  return {
    child,
    output: () => output,
    waitForOutput: (pattern, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        const check = () => {
          if (pattern.test(output)) {
            done();
            resolve();
          } else if (!running()) {
            done();
            reject(new Error(`${command} exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${output}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${command} did not print ${pattern} within ${timeoutMs} ms:\n${output}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    stop: async () => {
      if (!running()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
