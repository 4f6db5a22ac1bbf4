/**
 * Structured logs: one JSON object per line on stderr, with a level, a message and fields (a request
 * id where there is one). Quiet below SPOOL_LOG_LEVEL (default info).
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  log(level: Level, message: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(
  minLevel: Level = (process.env.SPOOL_LOG_LEVEL as Level | undefined) ?? 'info',
  write: (line: string) => void = (line) => void process.stderr.write(line),
): Logger {
  const threshold = order[minLevel] ?? order.info;
  return {
    log(level, message, fields = {}) {
      if (order[level] < threshold) return;
      write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
    },
  };
}

export const silentLogger: Logger = { log() {} };
