// Exit statuses and the one-line error report every bin uses. Kept apart
// from cli.ts (and clipanion) so realize-serve --stdio can report an error
// without loading the option parser.
import { toRealizeError, firstLine, type ErrorCode } from '../model/errors.js';

/** Exit statuses of DESIGN §2, in one table. */
export const EXIT: Record<'ok' | 'error' | 'timeout' | 'metrics' | 'interrupted', number> = {
  ok: 0,
  error: 1,
  timeout: 11,
  metrics: 12,
  interrupted: 20,
};

export function exitCodeFor(code: ErrorCode): number {
  if (code === 'timeout') return EXIT.timeout;
  if (code === 'interrupted') return EXIT.interrupted;
  return EXIT.error;
}

/** Prints an error as one line, the way every bin does. */
export function reportError(binary: string, err: unknown): number {
  const e = toRealizeError(err);
  process.stderr.write(`${binary}: ${firstLine(e.message)}\n`);
  if (process.env.REALIZE_LOG === 'debug' && err instanceof Error && err.stack) {
    process.stderr.write(err.stack + '\n');
  }
  return exitCodeFor(e.code);
}
