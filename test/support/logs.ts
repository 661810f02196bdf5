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
  const logger = createLogger('trace', { write: (line: string) => void written.push(line) });
  const lines = () => written.map((line) => JSON.parse(line) as LogLine);
  return {
    logger,
    text: () => written.join(''),
    lines,
    ofRequest: async (reqId) => {
      for (let waited = 0; waited < 5_000; waited += 10) {
        const found = lines().filter((line) => line.reqId === reqId);
        if (found.length > 0) {
          // Give a second line, if the app (wrongly) writes one, the chance to appear.
          await new Promise((resolve) => setTimeout(resolve, 50));
          return lines().filter((line) => line.reqId === reqId);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return [];
    },
  };
}
