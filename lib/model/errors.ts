// One error hierarchy for all of Realize. A `code` says what kind of failure
// it is (for exit statuses, retries and the wire); the message is for people.

export const ERROR_CODES = [
  'usage', // bad arguments or input from the user
  'config', // malformed or inconsistent configuration
  'auth', // key refused, unknown peer, arena not granted
  'network', // connection refused, dropped, timed out: worth retrying
  'protocol', // corrupt or oversized frame, version mismatch
  'path', // a path or range refused by validation
  'not_found', // file or arena absent
  'io', // disk error
  'denied', // permission denied, read-only file system
  'no_space', // destination disk full
  'conflict', // both sides changed
  'verify', // a hash did not match
  'timeout', // --max-duration exceeded
  'interrupted', // SIGINT / SIGTERM
  'not_implemented',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Whether a code from the wire is one of ours. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);
}

export class RealizeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'RealizeError';
  }
}

/** Errors worth retrying with backoff: the network, never auth, requests or disks. */
export function isRetryable(err: unknown): boolean {
  return err instanceof RealizeError && err.code === 'network';
}

const NODE_ERRNO: Record<string, ErrorCode> = {
  ENOSPC: 'no_space',
  EDQUOT: 'no_space',
  ENOENT: 'not_found',
  EACCES: 'denied',
  EPERM: 'denied',
  EROFS: 'denied',
  ECONNREFUSED: 'network',
  ECONNRESET: 'network',
  EPIPE: 'network',
  ETIMEDOUT: 'network',
  EHOSTUNREACH: 'network',
  ENETUNREACH: 'network',
  EADDRINUSE: 'usage',
};

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  ELOOP: 'refusing to follow a symbolic link',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  EADDRINUSE: 'address already in use',
};

/** Turns any thrown value into a RealizeError with a one-line message. */
export function toRealizeError(err: unknown): RealizeError {
  if (err instanceof RealizeError) return err;
  const e = err as (NodeJS.ErrnoException & { address?: string; port?: number }) | undefined;
  const errno = typeof e?.code === 'string' ? e.code : undefined;
  if (errno && (errno in NODE_ERRNO || errno in ERRNO_TEXT)) {
    const code = NODE_ERRNO[errno] ?? 'io';
    const what = ERRNO_TEXT[errno] ?? errno;
    const where = e?.path ? `: ${e.path}` : e?.address ? `: ${e.address}${e.port ? ':' + e.port : ''}` : '';
    const prefix = code === 'network' ? 'network error' : 'I/O error';
    return new RealizeError(code, `${prefix}: ${what}${where}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new RealizeError('io', firstLine(message), { cause: err });
}

export function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? text;
  return line.trim();
}

/** The short text of a system error ("permission denied"), else its first line. */
export function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && code in ERRNO_TEXT) return ERRNO_TEXT[code]!;
  return firstLine(err instanceof Error ? err.message : String(err));
}

/**
 * Batches where each item may fail alone: runs `batch` on the items that
 * have not failed yet and puts its results back in their places, so the
 * result has one entry per item, in order.
 */
export async function batchUnlessFailed<T, R>(items: readonly (T | RealizeError)[], batch: (ok: T[]) => Promise<readonly (R | RealizeError)[]>): Promise<(R | RealizeError)[]> {
  const ok = items.flatMap((item, i) => (item instanceof RealizeError ? [] : [i]));
  const got = ok.length === 0 ? [] : await batch(ok.map((i) => items[i] as T));
  const out = items.map((item) => item as RealizeError | R);
  ok.forEach((i, k) => (out[i] = got[k]!));
  return out;
}
