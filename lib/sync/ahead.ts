// What a local SRC does while DST is still being reached: ssh's handshake
// and the remote login leave this process idle for most of half a second.
// Its larger files are hashed, so a file DST already holds is compared as
// soon as DST has hashed its copy, instead of both ends hashing at once on
// shared cores; its small files are read and hashed, a batch per call, so
// the first batches can go out as soon as the plan is made. What was read
// is of the version listed, and only that version is handed out: a file
// changed after it was read is copied as listed (a move keeps its source,
// which is no longer the version copied) and brought level by the next run.
// Starts nothing new once the plan is known or the attempt failed; hashes
// at most HASH_BUDGET bytes, and reads at most READ_FILES files and about
// READ_BUDGET bytes (the two batches in flight when it is reached may add
// to it).
import type { ArenaPath } from '../model/path.js';
import { RealizeError } from '../model/errors.js';
import { sameVersion, type CacheUse, type FileEntry, type FileHashes, type FileService, type WholeFile } from '../model/service.js';
import { forEachLimited } from '../model/limit.js';

const HASH_BUDGET = 2 ** 31;
const READ_BUDGET = 32 << 20;
const READ_FILES = 16384;
/** Batches of small files read at once, besides the one large file being hashed. */
const READS_IN_FLIGHT = 2;

export interface AheadOptions {
  /** Files up to this size are read whole, larger ones hashed. */
  smallFile: number;
  /** Most files and bytes (as listed) of one batch of small files. */
  batchFiles: number;
  batchBytes: number;
  /** What SRC does with the hashes it remembers (a copy's; none for a move). */
  cache?: CacheUse;
}

export class Ahead {
  readonly #done = new Map<ArenaPath, Promise<FileHashes | WholeFile | undefined>>();
  #stopped = false;

  /** Starts on the files of `entries`, in listing order. */
  constructor(files: FileService, arena: string, entries: readonly FileEntry[], opts: AheadOptions) {
    void this.#hashLarge(files, arena, entries.filter((e) => e.size > opts.smallFile), opts.cache);
    void this.#readSmall(files, arena, entries.filter((e) => e.size <= opts.smallFile), opts);
  }

  /** One at a time: hashing a large file already keeps a core busy. */
  async #hashLarge(files: FileService, arena: string, entries: FileEntry[], cache: CacheUse | undefined): Promise<void> {
    let budget = HASH_BUDGET;
    for (const e of entries) {
      if (this.#stopped || e.size > budget) return;
      budget -= e.size;
      const hashing = files.hash(arena, e.path, 'final', { cache });
      this.#done.set(e.path, hashing.catch(() => undefined));
      await hashing.catch(() => {});
    }
  }

  async #readSmall(files: FileService, arena: string, entries: FileEntry[], opts: AheadOptions): Promise<void> {
    const batches: FileEntry[][] = [];
    let bytes = 0;
    let budget = READ_BUDGET;
    for (const e of entries.slice(0, READ_FILES)) {
      if (e.size > budget) break;
      budget -= e.size;
      const last = batches[batches.length - 1];
      if (!last || last.length === opts.batchFiles || bytes + e.size > opts.batchBytes) {
        batches.push([e]);
        bytes = e.size;
      } else {
        last.push(e);
        bytes += e.size;
      }
    }
    // Files that grew since they were listed count as read, not as listed.
    let held = 0;
    await forEachLimited(batches, READS_IN_FLIGHT, async (batch) => {
      if (this.#stopped || held >= READ_BUDGET) return;
      const reading = files.fetchMany(arena, batch.map((e) => e.path), opts.smallFile);
      reading.then((r) => r.forEach((f) => (held += f instanceof RealizeError ? 0 : f.size)), () => {});
      batch.forEach((e, i) =>
        this.#done.set(
          e.path,
          reading.then((r) => {
            const f = r[i];
            return f instanceof RealizeError ? undefined : f;
          }, () => undefined),
        ),
      );
      await reading.catch(() => {});
    });
  }

  /** The plan is known: the files it needs are read or hashed when their turn comes. */
  stop(): void {
    this.#stopped = true;
  }

  /** The hashes made of `entry`'s file, if they were, of the very version listed; handed out once. */
  async hashes(entry: FileEntry): Promise<FileHashes | undefined> {
    const h = await this.#take(entry);
    if (!h) return undefined;
    // Not the bytes: a view keeps its whole batch's buffer alive.
    const { size, mtime, ino, root, blocks } = h;
    return { size, mtime, ino, root, blocks };
  }

  /** `entry`'s small file as read, if it was, of the very version listed; handed out once. */
  async whole(entry: FileEntry): Promise<WholeFile | undefined> {
    const h = await this.#take(entry);
    return h && 'data' in h ? h : undefined;
  }

  async #take(entry: FileEntry): Promise<FileHashes | WholeFile | undefined> {
    const done = this.#done.get(entry.path);
    if (!done) return undefined;
    this.#done.delete(entry.path);
    const h = await done;
    return h && sameVersion(h, entry) ? h : undefined;
  }
}
