// The Real: files a peer holds completely, as ordinary files in each arena's
// directory, served through the FileService interface. Partial files are
// `.<name>.part` beside their final name; the final file stays untouched
// until `finish` renames a verified partial over it.
import { promises as fs } from 'node:fs';
import { basename, dirname } from 'node:path';
import { RealizeError } from '../model/errors.js';
import { partialPath, type ArenaPath } from '../model/path.js';
import type { FileForm, FileHashes, FileIdentity, FileService, Listing, ListOptions } from '../model/service.js';
import { BLOCK_SIZE, applyDelta, diff, hashBlocks, hashFile, signature } from '../native.js';
import { listArena } from './listing.js';
import { DirSync } from './dir-sync.js';
import { READ, WRITE, checkArenaRoot, fdPath, openInArena, resolveInArena } from './resolve.js';

/** Largest delta output accepted for one range: the caller's ranges are a few MiB. */
const MAX_DELTA_OUTPUT = 64 << 20;

export class RealStore implements FileService {
  readonly #roots: Map<string, string>;
  readonly #checked = new Map<string, number>();
  readonly #dirSync = new DirSync();

  /** `roots` maps arena names to absolute directories. */
  constructor(roots: Map<string, string>) {
    this.#roots = roots;
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

  async read(arena: string, path: ArenaPath, offset: number, length: number, form: FileForm = 'final'): Promise<Buffer> {
    const fh = await this.#open(arena, path, form, READ);
    try {
      return await readFully(fh, offset, length);
    } finally {
      await fh.close();
    }
  }

  async send(arena: string, path: ArenaPath, offset: number, fileSize: number, data: Buffer): Promise<void> {
    const fh = await this.#open(arena, path, 'partial', WRITE, true);
    try {
      await writeFully(fh, data, offset);
      await fh.truncate(fileSize);
    } finally {
      await fh.close();
    }
  }

  async reuse(arena: string, path: ArenaPath, offset: number, length: number, fileSize: number): Promise<void> {
    const data = await this.read(arena, path, offset, length, 'final');
    if (data.length !== length) throw new RealizeError('path', `${path}: range ${offset}+${length} is beyond the end of the final file`);
    await this.send(arena, path, offset, fileSize, data);
  }

  async finish(arena: string, path: ArenaPath, mtime: number, root: string): Promise<FileIdentity> {
    const dir = await this.root(arena);
    const part = await resolveInArena(dir, partialPath(path));
    const final = await resolveInArena(dir, path);
    const fh = await openInArena(dir, partialPath(path), READ);
    let identity: FileIdentity;
    try {
      const got = await hashFile(fdPath(fh));
      if (got.root !== root) throw new RealizeError('verify', `${path}: the partial file hashes to ${got.root}, not ${root}; kept as partial`);
      const seconds = mtime / 1000;
      await fh.utimes(seconds, seconds);
      await fh.sync();
      const st = await fh.stat();
      identity = { size: st.size, mtime: st.mtimeMs, ino: st.ino };
    } finally {
      await fh.close();
    }
    await fs.rename(part, final);
    await this.#dirSync.sync(dirname(final));
    return identity;
  }

  async hash(arena: string, path: ArenaPath, form: FileForm): Promise<FileHashes> {
    const fh = await this.#open(arena, path, form, READ);
    try {
      const st = await fh.stat();
      const h = await hashFile(fdPath(fh));
      return { size: st.size, mtime: st.mtimeMs, ino: st.ino, root: h.root, blocks: h.blocks };
    } finally {
      await fh.close();
    }
  }

  async hashBlocks(arena: string, path: ArenaPath, form: FileForm, first: number, count: number): Promise<string[]> {
    const fh = await this.#open(arena, path, form, READ);
    try {
      return await hashBlocks(fdPath(fh), first, count);
    } finally {
      await fh.close();
    }
  }

  async signature(arena: string, path: ArenaPath, offset: number, length: number): Promise<Buffer> {
    const fh = await this.#open(arena, path, 'final', READ);
    try {
      return await signature(fdPath(fh), offset, length);
    } finally {
      await fh.close();
    }
  }

  async diff(arena: string, path: ArenaPath, offset: number, length: number, sig: Buffer): Promise<Buffer> {
    const fh = await this.#open(arena, path, 'final', READ);
    try {
      return await diff(fdPath(fh), offset, length, sig);
    } finally {
      await fh.close();
    }
  }

  async applyDelta(arena: string, path: ArenaPath, offset: number, fileSize: number, delta: Buffer, expectedBlocks: string[]): Promise<void> {
    const base = await this.#open(arena, path, 'final', READ);
    let data: Buffer;
    try {
      data = await applyDelta(fdPath(base), delta, MAX_DELTA_OUTPUT);
    } finally {
      await base.close();
    }
    await this.send(arena, path, offset, fileSize, data);
    const first = Math.floor(offset / BLOCK_SIZE);
    const got = await this.hashBlocks(arena, path, 'partial', first, expectedBlocks.length);
    if (got.length !== expectedBlocks.length || got.some((h, i) => h !== expectedBlocks[i])) {
      throw new RealizeError('verify', `${path}: the delta at offset ${offset} did not produce the expected blocks`);
    }
  }

  async delete(arena: string, path: ArenaPath, ifMatch?: FileIdentity): Promise<boolean> {
    const root = await this.root(arena);
    const final = await resolveInArena(root, path);
    if (ifMatch) {
      const st = await fs.lstat(final).catch(() => undefined);
      if (!st) return false;
      if (!st.isFile() || st.size !== ifMatch.size || st.mtimeMs !== ifMatch.mtime || st.ino !== ifMatch.ino) {
        throw new RealizeError('conflict', `${path} changed since it was hashed; kept`);
      }
    }
    const deleted = await unlinkIfPresent(final);
    await unlinkIfPresent(await resolveInArena(root, partialPath(path)));
    return deleted;
  }

  async truncate(arena: string, path: ArenaPath, fileSize: number): Promise<void> {
    const fh = await this.#open(arena, path, 'partial', WRITE, true);
    try {
      await fh.truncate(fileSize);
    } finally {
      await fh.close();
    }
  }

  async #open(arena: string, path: ArenaPath, form: FileForm, flags: number, create = false): Promise<fs.FileHandle> {
    const root = await this.root(arena);
    return openInArena(root, form === 'partial' ? partialPath(path) : path, flags, create);
  }
}

async function readFully(fh: fs.FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

async function writeFully(fh: fs.FileHandle, data: Buffer, offset: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
    done += bytesWritten;
  }
}

async function unlinkIfPresent(file: string): Promise<boolean> {
  try {
    const st = await fs.lstat(file);
    if (!st.isFile()) throw new RealizeError('path', `refusing to delete ${basename(file)}: not a regular file`);
    await fs.unlink(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
