// A move deletes a source only once its copy at DST is durable. One flush of
// DST (syncfs there) makes a whole batch of files durable, so moves commit in
// batches instead of paying an fsync per file and per directory: a source is
// deleted after a flush that began after its file was finished, never before.
import { forEachLimited } from '../model/limit.js';

export interface CommitOptions {
  /** A flush starts once this many files wait for one... */
  batch: number;
  /** ...or once the first of them has waited this long, in ms. */
  delayMs: number;
  /** Deletions run at most this many at a time after each flush. */
  parallel: number;
}

interface Waiter<K> {
  key: K;
  after: () => Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Commits items named by keys of type K (the paths a flush must cover). */
export class Committer<K> {
  readonly #flush: (keys: K[]) => Promise<void>;
  readonly #opts: CommitOptions;
  #waiting: Waiter<K>[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The batches started so far, one after another. */
  #running: Promise<void> = Promise.resolve();

  /** `flush` makes the given items, and everything finished before the call, durable. */
  constructor(flush: (keys: K[]) => Promise<void>, opts: CommitOptions) {
    this.#flush = flush;
    this.#opts = opts;
  }

  /** Runs `after` (a source's deletion) once `key`, finished before this call, is durable; settles as it does. */
  commit(key: K, after: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ key, after, resolve, reject });
      if (this.#waiting.length >= this.#opts.batch) this.#start();
      else this.#timer ??= setTimeout(() => this.#start(), this.#opts.delayMs);
    });
  }

  /** Starts a batch with whatever waits now; resolves when every batch started so far has run. */
  drain(): Promise<void> {
    if (this.#waiting.length > 0) this.#start();
    return this.#running;
  }

  #start(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#waiting;
    this.#waiting = [];
    this.#running = this.#running.then(async () => {
      try {
        await this.#flush(batch.map((w) => w.key));
      } catch (err) {
        for (const w of batch) w.reject(err);
        return;
      }
      await forEachLimited(batch, this.#opts.parallel, async (w) => {
        try {
          await w.after();
          w.resolve();
        } catch (err) {
          w.reject(err);
        }
      });
    });
  }
}
