import os from 'node:os';

/** What stops the process: Ctrl-C, a process manager, a closed terminal. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Until a process has handlers of its own (a server still starting, a db:* command), a stop
 * signal ends it at once through process.exit, so that its 'exit' listeners run: the
 * embedded PostgreSQL it started is told to stop too, not left running. Returns the
 * function that removes these handlers.
 */
export function exitOnStopSignals(): () => void {
  const exit = (signal: NodeJS.Signals) => process.exit(128 + (os.constants.signals[signal] ?? 0));
  for (const signal of STOP_SIGNALS) process.on(signal, exit);
  return () => {
    for (const signal of STOP_SIGNALS) process.removeListener(signal, exit);
  };
}
