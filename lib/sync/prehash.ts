// Hashes a local SRC's larger files while DST is still being reached: ssh's
// handshake and the remote login leave this process idle for most of half a
// second, and a file DST already holds is then compared as soon as DST has
// hashed its copy, instead of both ends hashing at once on shared cores.
// Starts no new hash once the plan is known, and hashes at most BUDGET bytes.
import type { ArenaPath } from '../model/path.js';
import { sameVersion, type FileEntry, type FileHashes, type FileService } from '../model/service.js';

const BUDGET = 2 ** 31;

export class Prehash {
  readonly #hashes = new Map<ArenaPath, Promise<FileHashes>>();
  #stopped = false;

  /** Hashes, one at a time in listing order, the files of `entries` over `minSize` bytes. */
  constructor(files: FileService, arena: string, entries: readonly FileEntry[], minSize: number) {
    void this.#run(files, arena, entries.filter((e) => e.size > minSize));
  }

  async #run(files: FileService, arena: string, entries: FileEntry[]): Promise<void> {
    let budget = BUDGET;
    for (const e of entries) {
      if (this.#stopped || e.size > budget) return;
      budget -= e.size;
      const hashing = files.hash(arena, e.path, 'final');
      this.#hashes.set(e.path, hashing);
      await hashing.catch(() => {});
    }
  }

  /** The plan is known: the files it needs are hashed when their turn comes. */
  stop(): void {
    this.#stopped = true;
  }

  /** The hash made of `entry`'s file, if one was, of the very version listed. */
  async take(entry: FileEntry): Promise<FileHashes | undefined> {
    const hashing = this.#hashes.get(entry.path);
    if (!hashing) return undefined;
    this.#hashes.delete(entry.path);
    const h = await hashing.catch(() => undefined);
    return h && sameVersion(h, entry) ? h : undefined;
  }
}
