// Waiting that an interrupt (SIGINT, --max-duration) cuts short.
import { RealizeError } from './errors.js';

/**
 * `p`, or a rejection as soon as `signal` is aborted: an interrupt must not
 * wait for what may hang (a handshake, a listing of a stuck file system).
 * `p` goes on; its result, if any, is the caller's to close.
 */
export function orAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const stop = () => reject(new RealizeError('network', 'interrupted'));
    if (signal.aborted) return stop();
    signal.addEventListener('abort', stop, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}

/** Resolves after `ms`, or at once when `signal` is aborted. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
  });
}
