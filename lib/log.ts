export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogLine = Record<string, unknown> & { msg: string };
export interface Logger {
  debug(line: LogLine): void;
  info(line: LogLine): void;
  warn(line: LogLine): void;
  error(line: LogLine): void;
}

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** One JSON line per event, as the platform log drains expect. */
export function createLogger(level: LogLevel = 'info', write: (s: string) => void = (s) => process.stdout.write(s + '\n')): Logger {
  const at = (l: Exclude<LogLevel, 'silent'>) => (line: LogLine) => {
    if (order[l] < order[level]) return;
    write(JSON.stringify({ level: l, time: new Date().toISOString(), ...line }));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const silentLogger: Logger = createLogger('silent');
