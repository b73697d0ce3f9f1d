// Hashes remembered across runs, so that running a `--copy` again over files
// that did not change costs a stat per file instead of reading both copies.
// A file's BLAKE3 root and block values are kept per (device, inode) with
// the version they were made of, and trusted only for that very version:
// the same size, mtime and ctime, to the nanosecond (a writer can set the
// mtime back, not the ctime). A version whose ctime was less than
// RACY_MARGIN older than its hashing is not kept: a write in the same clock
// tick as the hashing would leave its ctime unchanged (git's "racily clean"
// files). Asked for only with --copy: a move reads and hashes what it will
// delete. Best effort: a cache that cannot be opened or written is left
// unused, never an error; its directory can be deleted at any time.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Lmdb from 'node-lmdb';
import { RealizeError } from '../model/errors.js';
import type { CacheUse, FileHashes } from '../model/service.js';
import { VERSION_RECORD, versionsOf } from '../native.js';

/** Room for about ten million small files' entries; the map is sparse. */
const MAP_SIZE = 2 ** 31;
const RACY_MARGIN_NS = 2_000_000_000n;
/** New entries are written at most this often, and when the process exits. */
const FLUSH_MS = 1000;
const FORMAT = 1;
// A version (versionsOf): device and inode (the key), then size, mtime and ctime.
const KEY = 16;
// An entry: FORMAT, the version's size, mtime and ctime, the root, then the
// block values (none when the root is the only one).
const HEADER = 1 + VERSION_RECORD - KEY;
const CV = 32;

interface Entry {
  key: Buffer;
  value: Buffer;
}

interface Db {
  env: Lmdb.Env;
  dbi: Lmdb.Dbi;
}

export interface HashCacheOptions {
  /** How much older than its hashing a version's ctime must be to be kept (tests shorten it). */
  racyMarginNs?: bigint;
}

export class HashCache {
  readonly dir: string;
  /** Lookups answered and not, for tests. */
  readonly stats = { hits: 0, misses: 0 };
  readonly #marginNs: bigint;
  /** Not yet opened (undefined), or unusable (null). */
  #db: Db | null | undefined;
  /** Entries kept, not yet written; being written. */
  readonly #pending = new Map<string, Entry>();
  readonly #writing = new Map<string, Entry>();
  #timer: NodeJS.Timeout | undefined;
  #flushesAtExit = false;

  constructor(dir: string, opts: HashCacheOptions = {}) {
    this.dir = dir;
    this.#marginNs = opts.racyMarginNs ?? RACY_MARGIN_NS;
  }

  /** The hashes kept for each version (a record of versionsOf; zeros for none), if any; one read for all. */
  lookup(versions: readonly Buffer[]): (FileHashes | undefined)[] {
    const db = versions.some(isFile) ? this.#open() : null;
    let txn: Lmdb.Txn | undefined;
    try {
      return versions.map((v) => {
        if (!isFile(v)) return undefined;
        const key = v.subarray(0, KEY);
        const hex = key.toString('hex');
        let value = (this.#pending.get(hex) ?? this.#writing.get(hex))?.value;
        if (!value && db) value = (txn ??= db.env.beginTxn({ readOnly: true })).getBinary(db.dbi, key) ?? undefined;
        const hashes = value && decode(value, v);
        if (hashes) this.stats.hits++;
        else this.stats.misses++;
        return hashes;
      });
    } catch {
      return versions.map(() => undefined);
    } finally {
      txn?.abort();
    }
  }

  /**
   * Keeps `hashes`, made of the file between the versions `before` and
   * `after` (`startedNs`: the wall clock before `before` was read), if they
   * are of that version, the file did not change in between and its ctime
   * was old enough.
   */
  remember(before: Buffer, after: Buffer, hashes: FileHashes, startedNs: bigint): void {
    if (this.#db === null || !isFile(before) || !before.equals(after) || !describes(hashes, before)) return;
    if (before.readBigInt64LE(32) >= startedNs - this.#marginNs) return;
    const key = Buffer.from(before.subarray(0, KEY));
    this.#pending.set(key.toString('hex'), { key, value: encode(before, hashes) });
    this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
    if (!this.#flushesAtExit) process.once('exit', () => this.flush(true));
    this.#flushesAtExit = true;
  }

  /**
   * Writes the entries kept since the last flush, in one transaction: on a
   * thread of node-lmdb's (its commit waits for the disk), or with `now`
   * (the process is exiting) at once, with those still being written.
   */
  flush(now = false): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const entries = now ? new Map([...this.#writing, ...this.#pending]) : new Map(this.#pending);
    this.#pending.clear();
    if (entries.size === 0) return;
    const db = this.#open();
    if (!db) return;
    if (now) return this.#writeNow(db, [...entries.values()]);
    for (const [k, e] of entries) this.#writing.set(k, e);
    db.env.batchWrite([...entries.values()].map((e): [Lmdb.Dbi, Buffer, Buffer] => [db.dbi, e.key, e.value]), {}, (err) => {
      for (const [k, e] of entries) if (this.#writing.get(k) === e) this.#writing.delete(k);
      if (err) this.#recover(db, [...entries.values()], err);
    });
  }

  #writeNow(db: Db, entries: Entry[]): void {
    try {
      write(db, entries);
    } catch (err) {
      this.#recover(db, entries, err);
    }
  }

  /** After `err`, the failure of writing `entries`: a full map is emptied and refilled (entries of files long gone are all it loses), else the cache is left unused. */
  #recover(db: Db, entries: Entry[], err: unknown): void {
    if (!/MDB_MAP_FULL/.test(String(err))) return this.#disable();
    try {
      clear(db);
      write(db, entries);
    } catch {
      this.#disable();
    }
  }

  #open(): Db | null {
    if (this.#db !== undefined) return this.#db;
    try {
      // Loaded only now: a move never asks, and loads nothing.
      const lmdb = createRequire(import.meta.url)('node-lmdb') as typeof Lmdb;
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const env = new lmdb.Env();
      // Integrity survives a crash (only the last commits may be lost) without an fsync of the meta page per commit.
      env.open({ path: this.dir, mapSize: MAP_SIZE, maxDbs: 1, noMetaSync: true });
      this.#db = { env, dbi: env.openDbi({ name: 'hashes', create: true, keyIsBuffer: true }) };
    } catch {
      this.#db = null;
    }
    return this.#db;
  }

  #disable(): void {
    this.#pending.clear();
    this.#writing.clear();
    this.#db = null;
  }
}

const shared = new Map<string, HashCache>();

/** The cache kept in `dir`, one per directory per process (LMDB allows one environment per file per process). */
export function hashCacheAt(dir: string): HashCache {
  let cache = shared.get(dir);
  if (!cache) shared.set(dir, (cache = new HashCache(dir)));
  return cache;
}

/**
 * The hashes of `files` (absolute names, or why a file has none): from
 * `cache` for each whose version it holds (with `use`), the others made by
 * `make` (given their indices; one result each, in order) and kept.
 */
export async function throughCache(
  cache: HashCache,
  use: CacheUse,
  files: readonly (string | RealizeError)[],
  make: (which: number[]) => Promise<(FileHashes | RealizeError)[]>,
): Promise<(FileHashes | RealizeError)[]> {
  const versions = async (which: number[]): Promise<Buffer[]> => {
    const named = which.filter((i) => typeof files[i] === 'string');
    const got = named.length > 0 ? await versionsOf(named.map((i) => files[i] as string)) : Buffer.alloc(0);
    const none = Buffer.alloc(VERSION_RECORD);
    let at = 0;
    return which.map((i) => {
      if (typeof files[i] !== 'string') return none;
      at += VERSION_RECORD;
      return got.subarray(at - VERSION_RECORD, at);
    });
  };
  const startedNs = BigInt(Date.now()) * 1_000_000n;
  const before = await versions(files.map((_, i) => i));
  const found = use === 'use' ? cache.lookup(before) : before.map(() => undefined);
  const missing = found.flatMap((h, i) => (h ? [] : [i]));
  if (missing.length === 0) return found as FileHashes[];
  const made = await make(missing);
  const after = await versions(missing);
  made.forEach((h, k) => {
    if (!(h instanceof RealizeError)) cache.remember(before[missing[k]!]!, after[k]!, h, startedNs);
  });
  let k = 0;
  return found.map((h) => h ?? made[k++]!);
}

function write(db: Db, entries: Entry[]): void {
  const txn = db.env.beginTxn();
  try {
    for (const e of entries) txn.putBinary(db.dbi, e.key, e.value);
    txn.commit();
  } catch (err) {
    txn.abort();
    throw err;
  }
}

function clear(db: Db): void {
  const txn = db.env.beginTxn();
  try {
    db.dbi.drop({ txn, justFreePages: true });
    txn.commit();
  } catch (err) {
    txn.abort();
    throw err;
  }
}

/** A version of a regular file, not the zeros of none (no file has inode 0). */
function isFile(version: Buffer): boolean {
  return version.readBigUInt64LE(8) !== 0n;
}

function describes(h: FileHashes, version: Buffer): boolean {
  return BigInt(h.size) === version.readBigUInt64LE(16) && BigInt(h.ino) === version.readBigUInt64LE(8) && h.mtime === msOf(version.readBigInt64LE(24));
}

/** A time in milliseconds as listings and `fs.Stats.mtimeMs` give it: seconds × 1e3 + nanoseconds / 1e6. */
function msOf(ns: bigint): number {
  let sec = ns / 1_000_000_000n;
  if (sec * 1_000_000_000n > ns) sec -= 1n;
  return Number(sec) * 1e3 + Number(ns - sec * 1_000_000_000n) / 1e6;
}

function encode(version: Buffer, h: FileHashes): Buffer {
  const blocks = h.blocks.length === 1 && h.blocks[0] === h.root ? [] : h.blocks;
  const value = Buffer.allocUnsafe(HEADER + CV + blocks.length * CV);
  value.writeUInt8(FORMAT, 0);
  version.copy(value, 1, KEY, VERSION_RECORD);
  value.write(h.root, HEADER, 'hex');
  blocks.forEach((b, i) => value.write(b, HEADER + CV + i * CV, 'hex'));
  return value;
}

function decode(value: Buffer, version: Buffer): FileHashes | undefined {
  if (value.length < HEADER + CV || (value.length - HEADER) % CV !== 0 || value.readUInt8(0) !== FORMAT) return undefined;
  // The very version: size, mtime and ctime to the nanosecond.
  if (value.compare(version, KEY, VERSION_RECORD, 1, HEADER) !== 0) return undefined;
  const cvs: string[] = [];
  for (let at = HEADER; at < value.length; at += CV) cvs.push(value.toString('hex', at, at + CV));
  const root = cvs[0]!;
  return { size: Number(version.readBigUInt64LE(16)), mtime: msOf(version.readBigInt64LE(24)), ino: Number(version.readBigUInt64LE(8)), root, blocks: cvs.length === 1 ? [root] : cvs.slice(1) };
}
