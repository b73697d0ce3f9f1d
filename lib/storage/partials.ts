// Partial files this process is writing. Each is held open under an
// exclusive lock, so no other realize process writes it meanwhile, with the
// block values of the bytes written through it (hashed as they pass): `finish`
// then reads back only the blocks it does not know (those of an earlier run)
// instead of the whole file. Anything uncertain (overlapping writes, a size
// change, a file replaced under its name) is forgotten, never guessed: an
// unknown block is read and hashed again.
import { constants, promises as fs } from 'node:fs';
import { RealizeError } from '../model/errors.js';
import type { ArenaPath } from '../model/path.js';
import { byteLength, type IncomingBytes } from '../model/service.js';
import { BLOCK_SIZE, blockCount, copyHashed, hashBlocks, rootFromBlocks, startWriteback, tryLockExclusive, writeBlocks } from '../native.js';
import { WRITE, createExclusive, fdPath, openChecked } from './resolve.js';

/** Writes at least this large start their write-back at once (see write). */
const EARLY_WRITEBACK = 1 << 20;
/** An open partial nobody used for this long is closed (its lock released). */
const IDLE_MS = 60_000;

class OpenPartial {
  readonly fh: fs.FileHandle;
  readonly ino: number;
  readonly dev: number;
  /** The file's size as this open last set it. */
  size: number;
  users = 0;
  lastUse = Date.now();
  /** Out of the open set: closed by its last user. */
  retired = false;
  /** False when the file system cannot lock: then nothing written is taken on trust. */
  readonly #trusted: boolean;
  /** The size the recorded values are for; a new one forgets them all. */
  #target: number;
  /** Bumped by every size change: a write that saw another one records nothing. */
  #generation = 0;
  /** Block values of bytes written through this open, for a file of `#target` bytes. */
  #known = new Map<number, string>();
  /** Writes in flight per block: a second one makes the block's content uncertain. */
  #inFlight = new Map<number, number>();
  #doubtful = new Set<number>();
  /**
   * Writes of bytes into the file, one after another: several on one file
   * at once wait on its inode lock, spinning (with 4 ranges arriving and
   * memory first touched, 9% of all CPU time on a 2-core machine).
   */
  #writes: Promise<unknown> = Promise.resolve();

  constructor(fh: fs.FileHandle, ino: number, dev: number, size: number, trusted: boolean) {
    this.fh = fh;
    this.ino = ino;
    this.dev = dev;
    this.size = size;
    this.#target = size;
    this.#trusted = trusted;
  }

  /** Writes `pieces` at `offset` and sets the size to `fileSize`; whole blocks (the last may end the file) are hashed as they pass. */
  async write(offset: number, fileSize: number, pieces: readonly Buffer[]): Promise<void> {
    const length = byteLength(pieces);
    await this.#writing(offset, length, fileSize, () => this.#inTurn(() => writeBlocks(this.fh.fd, offset, fileSize, pieces)));
  }

  #inTurn<T>(write: () => Promise<T>): Promise<T> {
    const turn = this.#writes.then(write);
    this.#writes = turn.catch(() => {});
    return turn;
  }

  /**
   * Writes bytes as they arrive: each block as soon as it is all in, while
   * still in the cache, hashed right after it is written; then sets the
   * size to `fileSize`.
   */
  async writeIncoming(offset: number, fileSize: number, data: IncomingBytes): Promise<void> {
    await this.#writing(offset, data.length, fileSize, async () => {
      const writes: Promise<string[]>[] = [];
      let failure: unknown;
      let group: Buffer[] = [];
      let start = offset;
      let at = offset;
      const launch = () => {
        if (group.length === 0) return;
        const [at0, pieces] = [start, group];
        const w = this.#inTurn(() => writeBlocks(this.fh.fd, at0, fileSize, pieces));
        w.catch((err: unknown) => (failure ??= err));
        writes.push(w);
        group = [];
        start = at;
      };
      try {
        await data.consume((piece) => {
          if (failure !== undefined) throw failure;
          for (let p = piece; p.length > 0; ) {
            const take = Math.min(p.length, BLOCK_SIZE - (at % BLOCK_SIZE));
            group.push(p.subarray(0, take));
            at += take;
            p = p.subarray(take);
            if (at % BLOCK_SIZE === 0) launch();
          }
        });
        launch();
      } finally {
        // Never leave a write running on a file that may be closed next.
        await Promise.allSettled(writes);
      }
      if (failure !== undefined) throw failure;
      // Values line up with blocks only from a block boundary.
      return offset % BLOCK_SIZE === 0 ? (await Promise.all(writes)).flat() : [];
    });
  }

  /**
   * Copies `length` bytes at `offset` of the file `from` (a name the native
   * code can open: DST's final file) to the same place, hashing them as they
   * pass; then sets the size to `fileSize`.
   */
  async copy(from: string, offset: number, length: number, fileSize: number): Promise<void> {
    await this.#writing(offset, length, fileSize, () => copyHashed(from, offset, length, fileSize, this.fh.fd));
  }

  /**
   * Runs `put`, which writes `length` bytes at `offset` (a block boundary)
   * through `fd`, whose block values the caller checked are `values`; then
   * sets the size to `fileSize`.
   */
  async writeChecked(offset: number, length: number, fileSize: number, values: string[], put: (fd: number) => Promise<void>): Promise<void> {
    await this.#writing(offset, length, fileSize, async () => {
      await put(this.fh.fd);
      return values;
    });
  }

  /**
   * One write of `length` bytes at `offset` by `put`, which returns the
   * values of the blocks it wrote from offset / BLOCK_SIZE on: recorded
   * unless another write overlapped it.
   */
  async #writing(offset: number, length: number, fileSize: number, put: () => Promise<string[] | undefined>): Promise<void> {
    const end = offset + length;
    this.#resize(fileSize);
    const generation = this.#generation;
    const first = Math.floor(offset / BLOCK_SIZE);
    const touched: number[] = [];
    for (let b = first; b < Math.ceil(Math.min(end, fileSize) / BLOCK_SIZE); b++) touched.push(b);
    for (const b of touched) {
      const n = (this.#inFlight.get(b) ?? 0) + 1;
      this.#inFlight.set(b, n);
      if (n > 1) this.#doubtful.add(b);
      this.#known.delete(b);
    }
    try {
      const values = await put();
      if ((length > 0 ? Math.max(this.size, end) : this.size) !== fileSize) await this.fh.truncate(fileSize);
      this.size = fileSize;
      // Large ranges start for the disk as they arrive, overlapping the
      // transfer, rather than all at once in the next flush.
      if (length >= EARLY_WRITEBACK) await startWriteback(this.fh.fd, offset, length);
      if (values && this.#trusted && this.#generation === generation) values.forEach((v, i) => this.#settle(first + i, v));
    } finally {
      for (const b of touched) {
        const n = this.#inFlight.get(b)! - 1;
        if (n > 0) this.#inFlight.set(b, n);
        else {
          this.#inFlight.delete(b);
          if (this.#doubtful.delete(b)) this.#known.delete(b);
        }
      }
    }
  }

  async truncate(fileSize: number): Promise<void> {
    this.#resize(fileSize);
    // Writes in flight meanwhile may land before or after the cut: they record nothing.
    this.#generation++;
    await this.fh.truncate(fileSize);
    this.size = fileSize;
  }

  /** The root of the file as it is now: known blocks as recorded, the others read and hashed. */
  async root(): Promise<string> {
    const st = await this.fh.stat();
    if (st.size !== this.#target) this.#known.clear();
    const values: (string | undefined)[] = [];
    for (let b = 0; b < blockCount(st.size); b++) values.push(this.#known.get(b));
    for (let b = 0; b < values.length; ) {
      if (values[b] !== undefined) {
        b++;
        continue;
      }
      let e = b;
      while (e < values.length && values[e] === undefined) e++;
      const read = await hashBlocks(fdPath(this.fh), b, e - b);
      read.forEach((v, i) => (values[b + i] = v));
      b = e;
    }
    return rootFromBlocks(st.size, values as string[]);
  }

  #settle(block: number, value: string): void {
    if (!this.#doubtful.has(block)) this.#known.set(block, value);
  }

  /** A new size changes the value of the last block (and of every block when it crosses one block): forget them all. */
  #resize(fileSize: number): void {
    if (fileSize === this.#target) return;
    this.#target = fileSize;
    this.#generation++;
    this.#known.clear();
  }
}

/** The partial files of this process, by absolute name: one per process, shared by every store. */
const open = new Map<string, Promise<OpenPartial>>();
let sweeper: NodeJS.Timeout | undefined;

/**
 * Runs `use` on the partial `abs` (`path` names it in messages), creating it
 * if missing. The first use opens and locks it; it stays open for the next
 * ranges until finished, deleted or idle.
 */
export async function withPartial<T>(abs: string, path: ArenaPath, use: (p: OpenPartial) => Promise<T>): Promise<T> {
  const p = await acquire(abs, path);
  p.users++;
  try {
    return await use(p);
  } finally {
    p.users--;
    p.lastUse = Date.now();
    if (p.retired && p.users === 0) await p.fh.close();
  }
}

/**
 * Takes the partial `abs` out of the open set, for finish: the open partial
 * if this process has it and the name still holds it, else undefined. The
 * caller closes it.
 */
export async function takePartial(abs: string, path: ArenaPath): Promise<OpenPartial | undefined> {
  const opening = open.get(abs);
  const p = opening && (await opening.catch(() => undefined));
  if (!p || open.get(abs) !== opening) return undefined;
  if (p.users > 0) throw new RealizeError('conflict', `${path}: still being written by another request; kept as partial`);
  open.delete(abs);
  p.retired = true;
  if (await stillNamed(abs, p)) return p;
  await p.fh.close();
  return undefined;
}

/**
 * The partial `abs`, which this process does not have open, opened and
 * locked for finish: nothing recorded, so it is hashed whole. The caller
 * closes it.
 */
export async function openForFinish(abs: string, path: ArenaPath): Promise<OpenPartial> {
  return locked((await openChecked(abs, path, constants.O_RDWR)).fh, path);
}

/** Closes the partial `abs` if open here (before it is deleted). */
export async function closePartial(abs: string): Promise<void> {
  const opening = open.get(abs);
  const p = opening && (await opening.catch(() => undefined));
  if (!p || open.get(abs) !== opening) return;
  open.delete(abs);
  p.retired = true;
  if (p.users === 0) await p.fh.close();
}

/**
 * The open partial `abs`, opened (and registered at once, so ranges arriving
 * together share one open) if missing. One whose name now holds another
 * file (renamed or deleted by someone else) is dropped and the name opened
 * anew.
 */
async function acquire(abs: string, path: ArenaPath): Promise<OpenPartial> {
  for (;;) {
    const opening = open.get(abs);
    if (!opening) {
      const mine = openPartial(abs, path);
      open.set(abs, mine);
      mine.catch(() => open.get(abs) === mine && open.delete(abs));
      return mine;
    }
    const p = await opening.catch(() => undefined);
    if (p) {
      p.lastUse = Date.now(); // not swept while checked
      // Still named, and not taken by a finish meanwhile.
      if ((await stillNamed(abs, p)) && !p.retired && open.get(abs) === opening) return p;
    }
    if (open.get(abs) === opening) open.delete(abs);
    if (p && !p.retired) {
      p.retired = true;
      if (p.users === 0) await p.fh.close();
    }
  }
}

async function stillNamed(abs: string, p: OpenPartial): Promise<boolean> {
  const st = await fs.lstat(abs).catch(() => undefined);
  return st !== undefined && st.ino === p.ino && st.dev === p.dev;
}

async function openPartial(abs: string, path: ArenaPath): Promise<OpenPartial> {
  // A fresh partial is made with O_EXCL (a new regular file, its size 0);
  // an existing one is opened and checked like any other.
  let fh = await createExclusive(abs);
  if (!fh) ({ fh } = await openChecked(abs, path, WRITE));
  const p = await locked(fh, path);
  sweeper ??= setInterval(sweep, IDLE_MS / 2).unref();
  return p;
}

/**
 * The open partial `fh`, locked: a 'conflict' (and `fh` closed) when
 * another open holds the lock. On a file system with no such locks it stays
 * unlocked and untrusted: what is written is hashed again at finish, as
 * nothing keeps others out.
 */
async function locked(fh: fs.FileHandle, path: ArenaPath): Promise<OpenPartial> {
  try {
    const trusted = lockOrRefuse(fh, path);
    const st = await fh.stat();
    return new OpenPartial(fh, st.ino, st.dev, st.size, trusted);
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** True once locked; false when the file system has no such locks. */
function lockOrRefuse(fh: fs.FileHandle, path: ArenaPath): boolean {
  let taken: boolean;
  try {
    taken = tryLockExclusive(fh.fd);
  } catch {
    return false;
  }
  if (!taken) throw new RealizeError('conflict', `${path}: another realize process is writing this file right now; kept, try again once it is done`);
  return true;
}

/** Closes partials idle for IDLE_MS: a sync that went away leaves no lock behind for long. */
function sweep(): void {
  const now = Date.now();
  for (const [abs, opening] of open) {
    void opening.then(
      async (p) => {
        if (p.users > 0 || now - p.lastUse < IDLE_MS || open.get(abs) !== opening) return;
        open.delete(abs);
        p.retired = true;
        await p.fh.close();
      },
      () => {},
    );
  }
  if (open.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

