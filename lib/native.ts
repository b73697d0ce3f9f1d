// The only module that loads the Rust addon. Everything else imports named
// functions from here, so a missing or stale build fails in one place with a
// message that says what to do.
import { createRequire } from 'node:module';
import type * as Binding from '../native/dist/binding.js';

function load(): typeof Binding {
  const require = createRequire(import.meta.url);
  try {
    return require('../../native/dist/binding.cjs') as typeof Binding;
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new Error(`the native addon is not built (${why}); run 'npm install' or 'npm run build:native'`);
  }
}

const native = load();

export const BLOCK_SIZE = native.BLOCK_SIZE;

// ---- The recursive inotify watcher (used by lib/history) ----
import { resolve as resolvePath } from 'node:path';
import { RealizeError, firstLine } from './model/errors.js';

/** One change under a watched root; paths are relative to it, '/'-separated. */
export interface WatchEvent {
  kind: 'add' | 'remove' | 'update' | 'rename' | 'rescan' | 'error';
  /** The path ('' for `rescan`, and for an error about the root itself). */
  path: string;
  /** For `rename`: the old path. */
  from?: string;
  isDir?: boolean;
  /** The writer closed the file (IN_CLOSE_WRITE) or it arrived whole by a rename. */
  closed?: boolean;
  /** For `error`: what went wrong and what to do. */
  message?: string;
}

export interface TreeWatch {
  /** Stops watching; no callback runs after it returns. Idempotent. */
  close(): void;
}

/**
 * Watches every directory under `root` (all watched when this returns) and
 * calls `onEvents` with batches of changes, on the JS thread, until `close()`.
 * Symlinks are not followed; partial files (`.name.part`) are never reported.
 * A throw in `onEvents` becomes an ordinary uncaught exception, never a
 * native abort. Throws a RealizeError if `root` is not a directory or the
 * inotify watch limit is reached (the message names the sysctl to raise).
 */
export function watchTree(root: string, onEvents: (events: WatchEvent[]) => void): TreeWatch {
  let open = true;
  let handle: Binding.NativeWatcher;
  try {
    handle = native.watchTree(resolvePath(root), (events) => {
      if (!open) return;
      try {
        onEvents(events as WatchEvent[]);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    });
  } catch (err) {
    const message = firstLine(err instanceof Error ? err.message : String(err));
    throw new RealizeError(/no such file/.test(message) ? 'not_found' : 'io', message, { cause: err });
  }
  return {
    close() {
      if (!open) return;
      open = false;
      handle.close();
    },
  };
}
