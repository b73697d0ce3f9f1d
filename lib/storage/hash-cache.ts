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
import { mkdirSync, type BigIntStats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type * as Lmdb from 'node-lmdb';
import { RealizeError } from '../model/errors.js';
import type { FileHashes } from '../model/service.js';

/** Room for about ten million small files' entries; the map is sparse. */
const MAP_SIZE = 2 ** 31;
const RACY_MARGIN_NS = 2_000_000_000n;
/** New entries are written at most this often, and when the process exits. */
const FLUSH_MS = 1000;
const FORMAT = 1;
const HEADER = 25;
const CV = 32;

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
  /** Lookups answered and not, for tests and -v. */
  readonly stats = { hits: 0, misses: 0 };
  readonly #marginNs: bigint;
  /** Not yet opened (undefined), or unusable (null). */
  #db: Db | null | undefined;
  readonly #pending = new Map<string, { key: Buffer; value: Buffer }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(dir: string, opts: HashCacheOptions = {}) {
    this.dir = dir;
    this.#marginNs = opts.racyMarginNs ?? RACY_MARGIN_NS;
  }

  /** The hashes kept for the version `st` describes, if any. */
  lookup(st: BigIntStats): FileHashes | undefined {
    const key = keyOf(st);
    const value = this.#pending.get(key.toString('hex'))?.value ?? this.#get(key);
    const hashes = value && decode(value, st);
    if (hashes) this.stats.hits++;
    else this.stats.misses++;
    return hashes;
  }

  /**
   * Keeps `hashes`, made of the file between the stats `before` and `after`
   * (`startedNs`: the wall clock before `before`), if they are of that
   * version, the file did not change in between and its ctime was old enough.
   */
  remember(before: BigIntStats, after: BigIntStats, hashes: FileHashes, startedNs: bigint): void {
    if (!sameVersion(before, after) || !describes(hashes, before) || before.ctimeNs >= startedNs - this.#marginNs || this.#db === null) return;
    const key = keyOf(before);
    this.#pending.set(key.toString('hex'), { key, value: encode(before, hashes) });
    this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  /** Writes the entries kept since the last flush, in one transaction. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    const db = this.#open();
    const entries = [...this.#pending.values()];
    this.#pending.clear();
    if (!db) return;
    try {
      write(db, entries);
    } catch (err) {
      // A full map is emptied and refilled: entries of files long gone are all it loses.
      if (!/MDB_MAP_FULL/.test(String(err))) return this.#disable();
      try {
        clear(db);
        write(db, entries);
      } catch {
        this.#disable();
      }
    }
  }

  #get(key: Buffer): Buffer | undefined {
    const db = this.#open();
    if (!db) return undefined;
    let txn: Lmdb.Txn | undefined;
    try {
      txn = db.env.beginTxn({ readOnly: true });
      return txn.getBinary(db.dbi, key) ?? undefined;
    } catch {
      return undefined;
    } finally {
      txn?.abort();
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
      process.once('exit', () => this.flush());
    } catch {
      this.#db = null;
    }
    return this.#db;
  }

  #disable(): void {
    this.#pending.clear();
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
 * `cache` for each whose version it holds, the others made by `make` (given
 * their indices; one result each, in order) and kept.
 */
export async function throughCache(
  cache: HashCache,
  files: readonly (string | RealizeError)[],
  make: (which: number[]) => Promise<(FileHashes | RealizeError)[]>,
): Promise<(FileHashes | RealizeError)[]> {
  const stat = async (i: number) => {
    const file = files[i];
    if (typeof file !== 'string') return undefined;
    const st = await lstat(file, { bigint: true }).catch(() => undefined);
    return st?.isFile() ? st : undefined;
  };
  const startedNs = BigInt(Date.now()) * 1_000_000n;
  const before = await Promise.all(files.map((_, i) => stat(i)));
  const found = before.map((st) => st && cache.lookup(st));
  const missing = found.flatMap((h, i) => (h ? [] : [i]));
  if (missing.length === 0) return found as FileHashes[];
  const made = await make(missing);
  const after = await Promise.all(missing.map(stat));
  made.forEach((h, k) => {
    const b = before[missing[k]!];
    const a = after[k];
    if (b && a && !(h instanceof RealizeError)) cache.remember(b, a, h, startedNs);
  });
  let k = 0;
  return found.map((h) => h ?? made[k++]!);
}

function write(db: Db, entries: { key: Buffer; value: Buffer }[]): void {
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

function keyOf(st: BigIntStats): Buffer {
  const key = Buffer.allocUnsafe(16);
  key.writeBigUInt64LE(st.dev, 0);
  key.writeBigUInt64LE(st.ino, 8);
  return key;
}

function sameVersion(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

function describes(h: FileHashes, st: BigIntStats): boolean {
  return BigInt(h.size) === st.size && BigInt(h.ino) === st.ino && h.mtime === msOf(st.mtimeNs);
}

/** A time in milliseconds as listings and `fs.Stats.mtimeMs` give it: seconds × 1e3 + nanoseconds / 1e6. */
function msOf(ns: bigint): number {
  let sec = ns / 1_000_000_000n;
  if (sec * 1_000_000_000n > ns) sec -= 1n;
  return Number(sec) * 1e3 + Number(ns - sec * 1_000_000_000n) / 1e6;
}

// An entry: format, then size, mtime and ctime in ns, the root, and the
// block values (none when the root is the only one).
function encode(st: BigIntStats, h: FileHashes): Buffer {
  const blocks = h.blocks.length === 1 && h.blocks[0] === h.root ? [] : h.blocks;
  const value = Buffer.allocUnsafe(HEADER + CV + blocks.length * CV);
  value.writeUInt8(FORMAT, 0);
  value.writeBigUInt64LE(st.size, 1);
  value.writeBigInt64LE(st.mtimeNs, 9);
  value.writeBigInt64LE(st.ctimeNs, 17);
  value.write(h.root, HEADER, 'hex');
  blocks.forEach((b, i) => value.write(b, HEADER + CV + i * CV, 'hex'));
  return value;
}

function decode(value: Buffer, st: BigIntStats): FileHashes | undefined {
  if (value.length < HEADER + CV || (value.length - HEADER) % CV !== 0 || value.readUInt8(0) !== FORMAT) return undefined;
  if (value.readBigUInt64LE(1) !== st.size || value.readBigInt64LE(9) !== st.mtimeNs || value.readBigInt64LE(17) !== st.ctimeNs) return undefined;
  const cvs: string[] = [];
  for (let at = HEADER; at < value.length; at += CV) cvs.push(value.toString('hex', at, at + CV));
  const root = cvs[0]!;
  return { size: Number(st.size), mtime: msOf(st.mtimeNs), ino: Number(st.ino), root, blocks: cvs.length === 1 ? [root] : cvs.slice(1) };
}
