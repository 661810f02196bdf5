import { createLogger, type Logger } from '../../src/logger.js';

export interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  [member: string]: unknown;
}

export interface CapturedLogs {
  /** A logger at `trace` that keeps every line it writes. */
  logger: Logger;
  /** Everything written so far, as written. */
  text(): string;
  lines(): LogLine[];
  /**
   * The lines of one request. A request's line is written when its answer has gone out,
   * which can be a moment after the client has read it: waits for the first to appear.
   */
  ofRequest(reqId: string): Promise<LogLine[]>;
}

/** The app's own logger, writing into memory. */
export function captureLogs(): CapturedLogs {
  const written: string[] = [];
  const listeners = new Set<(line: LogLine) => void>();
  const logger = createLogger('trace', {
    write: (text: string) => {
      written.push(text);
      const line = JSON.parse(text) as LogLine;
      for (const listener of listeners) listener(line);
    },
  });
  const lines = () => written.map((line) => JSON.parse(line) as LogLine);
  /** Resolves with the next line that `match`es as it is written, or undefined after `timeoutMs`. */
  const nextLine = (match: (line: LogLine) => boolean, timeoutMs: number) =>
    new Promise<LogLine | undefined>((resolve) => {
      const listener = (line: LogLine) => {
        if (!match(line)) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        resolve(undefined);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(listener);
      };
      listeners.add(listener);
    });
  return {
    logger,
    text: () => written.join(''),
    lines,
    ofRequest: async (reqId) => {
      const ofIt = (line: LogLine) => line.reqId === reqId;
      const found = lines().filter(ofIt);
      // The first line as it is written (the app writes it when the answer has gone out).
      if (found.length === 0 && !(await nextLine(ofIt, 5_000))) return [];
      // A second line, if the app (wrongly) writes one, is given a moment to appear: absence
      // has no event to wait for, so this is the one bounded wait; a second line ends it early.
      if (lines().filter(ofIt).length === 1) await nextLine(ofIt, 50);
      return lines().filter(ofIt);
    },
  };
}
