// Log lines for daemons: one line per event on stderr (journald adds the
// time). REALIZE_LOG=debug raises verbosity, REALIZE_LOG=warn lowers it.

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

function threshold(): number {
  const v = (process.env.REALIZE_LOG ?? 'info').toLowerCase();
  return ORDER[v as Level] ?? ORDER.info;
}

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export function createLogger(write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = threshold();
  const at = (level: Level) => (msg: string) => {
    if (ORDER[level] >= min) write(`${level}: ${msg}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A logger that drops everything: for libraries used by commands with their own output. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
