// Durable renames without one directory fsync per file: callers that finish
// files in the same directory at about the same time share one fsync. A
// caller's sync always starts after its rename (a sync already running when
// it arrives does not count for it).
import { syncDir } from './resolve.js';

interface DirState {
  running?: Promise<void>;
  queued?: Promise<void>;
}

export class DirSync {
  readonly #dirs = new Map<string, DirState>();

  sync(dir: string): Promise<void> {
    let state = this.#dirs.get(dir);
    if (!state) this.#dirs.set(dir, (state = {}));
    if (state.queued) return state.queued;
    const s = state;
    const next = (async () => {
      await s.running?.catch(() => {});
      s.queued = undefined;
      const run = syncDir(dir);
      s.running = run;
      try {
        await run;
      } finally {
        if (s.running === run) s.running = undefined;
        if (!s.running && !s.queued) this.#dirs.delete(dir);
      }
    })();
    s.queued = next;
    return next;
  }
}
