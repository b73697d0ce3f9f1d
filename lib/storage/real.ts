// The Real: files a peer holds completely, as ordinary files in each arena's
// directory, served through the FileService interface. Partial files are
// `.<name>.part` beside their final name; the final file stays untouched
// until `finish` renames a verified partial over it (partials.ts writes them,
// hashing what it writes). Nothing is fsynced file by file: `flush` is one
// barrier (syncfs) for every file finished before it.
import { promises as fs, type Stats } from 'node:fs';
import { basename, join } from 'node:path';
import { RealizeError, batchUnlessFailed, toRealizeError } from '../model/errors.js';
import { partialPath, segments, type ArenaPath } from '../model/path.js';
import { isIncoming, sameVersion, versionOf, type FileForm, type FileHashes, type FileIdentity, type FileService, type HashOptions, type HashedBytes, type IncomingBytes, type Listing, type ListOptions, type WholeFile, type WholePut } from '../model/service.js';
import { BLOCK_SIZE, applyDeltaTo, diff, fetchFiles, hashBlocks, hashFile, hashFiles, putFiles, readHashed, signature, syncFs } from '../native.js';
import { throughCache, type HashCache } from './hash-cache.js';
import { listArena } from './listing.js';
import { closePartial, openForFinish, takePartial, withPartial } from './partials.js';
import { READ, checkArenaRoot, fdPath, openChecked, resolveParent, type OpenFile } from './resolve.js';

/** How long a replaced final file is held open after its rename, so freeing it comes after the reply. */
const REPLACED_CLOSE_MS = 50;
/** Largest delta output accepted for one range: the caller's ranges are a few MiB. */
const MAX_DELTA_OUTPUT = 64 << 20;

export class RealStore implements FileService {
  readonly #roots: Map<string, string>;
  readonly #checked = new Map<string, number>();
  readonly #readers = new Map<string, { opened: Promise<OpenFile>; users: number }>();
  readonly #hashCache: HashCache | undefined;

  /** `roots` maps arena names to absolute directories; `hashCache` answers and keeps hashes asked for with `cache`. */
  constructor(roots: Map<string, string>, opts: { hashCache?: HashCache } = {}) {
    this.#roots = roots;
    this.#hashCache = opts.hashCache;
  }

  arenas(): string[] {
    return [...this.#roots.keys()];
  }

  /** The arena's directory, checked to be there. */
  async root(arena: string): Promise<string> {
    const root = this.#roots.get(arena);
    if (root === undefined) throw new RealizeError('not_found', `no arena named ${arena} here`);
    // Checked at most once a second: a vanished disk is noticed, small files stay cheap.
    const now = Date.now();
    if (now - (this.#checked.get(arena) ?? 0) > 1000) {
      await checkArenaRoot(arena, root);
      this.#checked.set(arena, now);
    }
    return root;
  }

  async list(arena: string, opts?: ListOptions): Promise<Listing> {
    return listArena(await this.root(arena), opts);
  }

  async read(arena: string, path: ArenaPath, offset: number, length: number, form: FileForm = 'final', into?: Buffer): Promise<Buffer> {
    return this.#reading(arena, path, form, ({ fh }) => readFully(fh, offset, length, into));
  }

  async readHashed(arena: string, path: ArenaPath, offset: number, length: number, version: FileIdentity, into?: Buffer): Promise<HashedBytes> {
    const end = offset + length;
    const fileSize = version.size;
    if (offset % BLOCK_SIZE !== 0 || end > fileSize || (end % BLOCK_SIZE !== 0 && end !== fileSize)) {
      throw new RealizeError('path', `${path}: ${length} bytes at ${offset} are not whole blocks of a file of ${fileSize} bytes`);
    }
    const buf = into && into.length >= length ? into : Buffer.allocUnsafe(length);
    const read = await this.#reading(arena, path, 'final', async ({ fh }) => {
      const r = await readHashed(fdPath(fh), offset, length, fileSize, buf);
      // Checked after the read: a write to a range read earlier then shows here, at the latest with the last range.
      if (!sameVersion(versionOf(await fh.stat()), version)) throw new RealizeError('conflict', `the source changed while being read (${path} was written to during the sync); kept, run again`);
      return r;
    });
    // A short read (the file shrank since it was listed) has no values: the caller refuses it.
    return { data: buf.subarray(0, read.length), blocks: read.length === length ? read.blocks : [] };
  }

  async send(arena: string, path: ArenaPath, offset: number, fileSize: number, data: Buffer | readonly Buffer[] | IncomingBytes): Promise<void> {
    const dir = await this.#dir(arena, path, true);
    await withPartial(join(dir, partialName(path)), partialPath(path), (p) =>
      isIncoming(data) ? p.writeIncoming(offset, fileSize, data) : p.write(offset, fileSize, Buffer.isBuffer(data) ? [data] : data),
    );
  }

  async reuse(arena: string, path: ArenaPath, offset: number, length: number, fileSize: number): Promise<void> {
    const dir = await this.#dir(arena, path, true);
    // Copied in the addon: no buffer of the range's size comes and goes in JS.
    await withPartial(join(dir, partialName(path)), partialPath(path), (p) =>
      this.#reading(arena, path, 'final', ({ fh }) => p.copy(fdPath(fh), offset, length, fileSize)),
    );
  }

  async finish(arena: string, path: ArenaPath, mtime: number, root: string, replaces?: FileIdentity | null): Promise<FileIdentity> {
    const dir = await this.#dir(arena, path);
    const part = join(dir, partialName(path));
    const final = join(dir, finalName(path));
    // The partial this process wrote knows the values of the blocks it
    // wrote; one from elsewhere (an earlier run) is hashed whole. Either is
    // locked until it has its final name, so no one writes into it meanwhile.
    const p = (await takePartial(part, partialPath(path))) ?? (await openForFinish(part, partialPath(path)));
    try {
      const got = await p.root();
      if (got !== root) throw new RealizeError('verify', `${path}: the partial file hashes to ${got}, not ${root}; kept as partial`);
      const seconds = mtime / 1000;
      await p.fh.utimes(seconds, seconds);
      const st = await p.fh.stat();
      // The file this replaces stays open over the rename: freeing its pages
      // and blocks (a quarter of a second per GiB here) happens once the
      // reply is on its way, not inside the rename.
      const replaced = await fs.open(final, READ).catch(() => undefined);
      try {
        if (replaces !== undefined) {
          // lstat: whatever is there now, a link or a file we may not open included.
          const there = await fs.lstat(final).catch((e: NodeJS.ErrnoException) => {
            if (e.code === 'ENOENT') return undefined;
            throw e;
          });
          if (there && (!replaces || !there.isFile() || !sameVersion(versionOf(there), replaces))) {
            throw new RealizeError('conflict', `conflict: ${path} at the destination was ${replaces ? 'changed' : 'made'} during the sync; kept both (the new copy as ${partialName(path)})`);
          }
        }
        await fs.rename(part, final);
      } finally {
        if (replaced) setTimeout(() => void replaced.close().catch(() => {}), REPLACED_CLOSE_MS).unref();
      }
      return { size: st.size, mtime: st.mtimeMs, ino: st.ino };
    } finally {
      await p.fh.close();
    }
  }

  async fetchMany(arena: string, paths: ArenaPath[], maxSize: number): Promise<(WholeFile | RealizeError)[]> {
    return batchUnlessFailed(await this.#finalsOf(arena, paths), (ok) => fetchFiles(ok, maxSize));
  }

  async hashMany(arena: string, paths: ArenaPath[], maxSize: number, opts: HashOptions = {}): Promise<(FileHashes | RealizeError)[]> {
    const finals = await this.#finalsOf(arena, paths);
    const make = (which: number[]) => batchUnlessFailed(which.map((i) => finals[i]!), (ok) => hashFiles(ok, maxSize));
    if (!opts.cache || !this.#hashCache) return make(finals.map((_, i) => i));
    // Remembered hashes answer for files of any size; of the others, those over maxSize are refused unread.
    return throughCache(this.#hashCache, opts.cache, finals, make);
  }

  /** The final files' absolute names, each directory checked; a path whose directory is not there is its error. */
  async #finalsOf(arena: string, paths: ArenaPath[]): Promise<(string | RealizeError)[]> {
    const dirs = await this.#dirsOf(arena, paths, false);
    return dirs.map((d, i) => (d instanceof RealizeError ? d : join(d, finalName(paths[i]!))));
  }

  async putMany(arena: string, files: WholePut[]): Promise<(FileIdentity | RealizeError)[]> {
    const dirs = await this.#dirsOf(arena, files.map((f) => f.path), true);
    const placed = dirs.map((d, i) => (d instanceof RealizeError ? d : { dir: d, file: files[i]! }));
    return batchUnlessFailed(placed, (ok) =>
      putFiles(ok.map(({ dir, file: f }) => ({ dir, partName: partialName(f.path), finalName: finalName(f.path), data: f.data, mtime: f.mtime, root: f.root }))),
    );
  }

  async flush(arena: string, paths: ArenaPath[]): Promise<void> {
    const root = await this.root(arena);
    // One syncfs per file system: an arena may span mount points.
    const dirs = new Set((await this.#dirsOf(arena, paths, false)).filter((d): d is string => typeof d === 'string'));
    const byDevice = new Map<number, string>([[(await fs.stat(root)).dev, root]]);
    for (const dir of dirs) {
      const st = await fs.stat(dir).catch(() => undefined);
      if (st && !byDevice.has(st.dev)) byDevice.set(st.dev, dir);
    }
    await Promise.all([...byDevice.values()].map((dir) => syncFs(dir)));
  }

  async hash(arena: string, path: ArenaPath, form: FileForm, opts: HashOptions = {}): Promise<FileHashes> {
    const make = () =>
      this.#reading(arena, path, form, async ({ fh, stat: st }) => {
        const h = await hashFile(fdPath(fh));
        return { size: st.size, mtime: st.mtimeMs, ino: st.ino, root: h.root, blocks: h.blocks };
      });
    if (form !== 'final' || !opts.cache || !this.#hashCache) return make();
    // Remembered, the file is not even opened.
    const [h] = await throughCache(this.#hashCache, opts.cache, [await this.#final(arena, path)], async () => [await make()]);
    if (h instanceof RealizeError) throw h;
    return h!;
  }

  async hashBlocks(arena: string, path: ArenaPath, form: FileForm, first: number, count: number): Promise<string[]> {
    return this.#reading(arena, path, form, ({ fh }) => hashBlocks(fdPath(fh), first, count));
  }

  async signature(arena: string, path: ArenaPath, offset: number, length: number): Promise<Buffer> {
    return this.#reading(arena, path, 'final', ({ fh }) => signature(fdPath(fh), offset, length));
  }

  async diff(arena: string, path: ArenaPath, offset: number, length: number, sig: Buffer, limit?: number): Promise<Buffer | undefined> {
    return this.#reading(arena, path, 'final', ({ fh }) => diff(fdPath(fh), offset, length, sig, limit));
  }

  async applyDelta(arena: string, path: ArenaPath, offset: number, fileSize: number, delta: Buffer, blocks: string[]): Promise<void> {
    if (offset % BLOCK_SIZE !== 0) throw new RealizeError('path', `${path}: a delta's output must start at a block boundary, not at ${offset}`);
    const expect = { firstBlock: offset / BLOCK_SIZE, fileSize, blocks };
    const length = Math.min(fileSize, offset + blocks.length * BLOCK_SIZE) - offset;
    const dir = await this.#dir(arena, path, true);
    // The result is checked against `blocks` before it is written: the partial records them as they are.
    await withPartial(join(dir, partialName(path)), partialPath(path), (p) =>
      p.writeChecked(offset, length, fileSize, blocks, (fd) => this.#reading(arena, path, 'final', ({ fh }) => applyDeltaTo(fdPath(fh), delta, MAX_DELTA_OUTPUT, expect, fd, offset))),
    );
  }

  async delete(arena: string, path: ArenaPath, ifMatch?: FileIdentity): Promise<boolean> {
    const dir = await this.#dir(arena, path);
    const final = join(dir, finalName(path));
    if (ifMatch) {
      const st = await fs.lstat(final).catch(() => undefined);
      if (!st) return false;
      if (!st.isFile() || !sameVersion(versionOf(st), ifMatch)) {
        throw new RealizeError('conflict', `${path} changed since it was hashed; kept`);
      }
      return unlinkIfPresent(final, st);
    }
    const deleted = await unlinkIfPresent(final);
    const part = join(dir, partialName(path));
    await closePartial(part);
    await unlinkIfPresent(part);
    return deleted;
  }

  async truncate(arena: string, path: ArenaPath, fileSize: number): Promise<void> {
    const dir = await this.#dir(arena, path, true);
    await withPartial(join(dir, partialName(path)), partialPath(path), (p) => p.truncate(fileSize));
  }

  /** The checked directory holding each path, or why not; each distinct directory resolved once. */
  async #dirsOf(arena: string, paths: ArenaPath[], create: boolean): Promise<(string | RealizeError)[]> {
    const root = await this.root(arena);
    const resolving = new Map<string, Promise<string>>();
    return Promise.all(
      paths.map(async (path) => {
        const key = segments(path).slice(0, -1).join('/');
        let dir = resolving.get(key);
        if (!dir) resolving.set(key, (dir = resolveParent(root, path, create)));
        return dir.catch((err: unknown) => toRealizeError(err));
      }),
    );
  }

  /** The final file's absolute name, its directory checked. */
  async #final(arena: string, path: ArenaPath): Promise<string> {
    return join(await this.#dir(arena, path), finalName(path));
  }

  /** The checked directory holding `path` (made with `create`). */
  async #dir(arena: string, path: ArenaPath, create = false): Promise<string> {
    return resolveParent(await this.root(arena), path, create);
  }

  /** Opens a form of the file for reading (writes go through partials.ts). */
  async #openForReading(arena: string, path: ArenaPath, form: FileForm): Promise<OpenFile> {
    const dir = await this.#dir(arena, path);
    return openChecked(join(dir, form === 'partial' ? partialName(path) : finalName(path)), form === 'partial' ? partialPath(path) : path, READ);
  }

  /**
   * Runs `use` on the file opened for reading. Reads and hashes of one file
   * that overlap in time share one open (SRC hashes a small file while its
   * only range is read): fewer round trips, and both see the same version of
   * the file. The file is closed when the last of them is done; a call that
   * comes later opens it anew.
   */
  async #reading<T>(arena: string, path: ArenaPath, form: FileForm, use: (f: OpenFile) => Promise<T>): Promise<T> {
    const key = `${arena}\0${form}\0${path}`;
    let shared = this.#readers.get(key);
    if (!shared) {
      const opened = this.#openForReading(arena, path, form);
      opened.catch(() => {});
      shared = { opened, users: 0 };
      this.#readers.set(key, shared);
    }
    const s = shared;
    s.users++;
    try {
      return await use(await s.opened);
    } finally {
      if (--s.users === 0) {
        if (this.#readers.get(key) === s) this.#readers.delete(key);
        const f = await s.opened.catch(() => undefined);
        await f?.fh.close();
      }
    }
  }
}

function finalName(path: ArenaPath): string {
  const parts = segments(path);
  return parts[parts.length - 1]!;
}

function partialName(path: ArenaPath): string {
  return finalName(partialPath(path));
}

async function readFully(fh: fs.FileHandle, offset: number, length: number, into?: Buffer): Promise<Buffer> {
  const buf = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/** Unlinks a regular file; `known` is an lstat of it just made. */
async function unlinkIfPresent(file: string, known?: Stats): Promise<boolean> {
  try {
    const st = known ?? (await fs.lstat(file));
    if (!st.isFile()) throw new RealizeError('path', `refusing to delete ${basename(file)}: not a regular file`);
    await fs.unlink(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
