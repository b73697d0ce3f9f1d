// The history store: per arena, an ordered log of local changes, an index of
// the current files (so a startup scan can tell what changed while the daemon
// was down), and each peer's acknowledged seq. One LMDB environment under
// `<state>/history`, shared by all arenas. Transport-agnostic: the daemon's
// HistoryService calls `subscribe` and `ack`; nothing here knows about peers
// beyond their names.
//
// Layout (every key starts with the arena name and a NUL byte):
//   entries  arena \0 seq (8 bytes, big-endian)  -> JSON HistoryEntry
//   files    arena \0 path                       -> JSON FileState
//   meta     arena \0 "seq"                      -> last seq given out
//            arena \0 "trim"                     -> highest seq trimmed away
//            arena \0 "ack" \0 peer              -> that peer's acked seq
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import type * as Lmdb from 'node-lmdb';
import { RealizeError, toRealizeError } from '../model/errors.js';
import { parsePath } from '../model/path.js';

const lmdb = createRequire(import.meta.url)('node-lmdb') as typeof Lmdb;

export type ChangeKind = 'add' | 'remove' | 'update' | 'rename';

/** What a file is now: enough to tell a change without re-hashing. */
export interface FileState {
  size: number;
  /** Modification time, milliseconds since the epoch (fractional, as `fs.Stats.mtimeMs`). */
  mtime: number;
  /** BLAKE3 root, 64 lowercase hex digits (what `b3sum` prints). */
  hash: string;
}

/** One change to record. `add`/`update` carry the new state; `rename` moves `from` to `path`. */
export interface Change {
  kind: ChangeKind;
  path: string;
  from?: string;
  size?: number;
  mtime?: number;
  hash?: string;
}

/** A recorded change: numbered from 1 upwards per arena, never reused. */
export interface HistoryEntry extends Change {
  seq: number;
  /** When it was recorded, milliseconds since the epoch. */
  time: number;
}

export interface SubscribeOptions {
  /**
   * Called (synchronously, before any entry) when the history cannot continue
   * from `afterSeq`: entries after it were already trimmed, or `afterSeq` is
   * beyond the last seq (this history was reset). The replay then starts at
   * `trimmedThrough + 1`; the subscriber should re-list the arena instead of
   * trusting the history alone.
   */
  onGap?: (trimmedThrough: number) => void;
  /** Entries read per replay step (default 1000); the loop yields between steps. */
  pageSize?: number;
}

const MAP_SIZE = 64 * 2 ** 30; // address space only; the file grows as needed
const SEQ_KEY = 'seq';
const TRIM_KEY = 'trim';
const openPaths = new Set<string>();

/** Opens (creating if needed) the history under `stateDir/history`. One per process per directory. */
export function openHistory(stateDir: string): HistoryDb {
  return new HistoryDb(resolve(stateDir, 'history'));
}

export class HistoryDb {
  readonly path: string;
  /** @internal */ readonly env: Lmdb.Env;
  /** @internal */ readonly entriesDbi: Lmdb.Dbi;
  /** @internal */ readonly filesDbi: Lmdb.Dbi;
  /** @internal */ readonly metaDbi: Lmdb.Dbi;
  /** @internal */ readonly live = new EventEmitter();
  private readonly arenas = new Map<string, ArenaHistory>();
  private closed = false;
  private ackTimer: NodeJS.Timeout | undefined;

  constructor(path: string) {
    if (openPaths.has(path)) throw new RealizeError('usage', `the history at ${path} is already open in this process; share one HistoryDb`);
    try {
      mkdirSync(path, { recursive: true });
      this.env = new lmdb.Env();
      this.env.open({ path, mapSize: MAP_SIZE, maxDbs: 4 });
      this.entriesDbi = this.env.openDbi({ name: 'entries', create: true, keyIsBuffer: true });
      this.filesDbi = this.env.openDbi({ name: 'files', create: true, keyIsBuffer: true });
      this.metaDbi = this.env.openDbi({ name: 'meta', create: true, keyIsBuffer: true });
    } catch (err) {
      throw new RealizeError('io', `cannot open the history database at ${path}: ${toRealizeError(err).message}`, { cause: err });
    }
    this.path = path;
    openPaths.add(path);
    this.live.setMaxListeners(0);
  }

  /** The history of one arena (created on first use). */
  arena(name: string): ArenaHistory {
    this.check();
    if (name === '' || name.includes('\0')) throw new RealizeError('usage', `invalid arena name ${JSON.stringify(name)}`);
    let a = this.arenas.get(name);
    if (!a) {
      a = new ArenaHistory(this, name);
      this.arenas.set(name, a);
    }
    return a;
  }

  /**
   * Replays the entries of `arena` after `afterSeq`, then delivers new ones
   * as they are appended, in seq order, each exactly once. The replay starts
   * on a later turn of the event loop and yields between pages. Returns the
   * function that stops it. A throw in `onEntry` is re-thrown asynchronously
   * and does not stop the subscription.
   */
  subscribe(arena: string, afterSeq: number, onEntry: (entry: HistoryEntry) => void, options: SubscribeOptions = {}): () => void {
    const history = this.arena(arena);
    const pageSize = options.pageSize ?? 1000;
    let cursor = afterSeq;
    let active = true;
    const deliver = (entry: HistoryEntry): void => {
      if (!active || entry.seq <= cursor) return;
      cursor = entry.seq;
      try {
        onEntry(entry);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    };
    const trimmed = history.trimmedThrough();
    if (afterSeq < trimmed || afterSeq > history.lastSeq()) {
      // Entries were trimmed, or the subscriber knows seqs this history never
      // gave out (its state was reset): replay what there is.
      cursor = trimmed;
      options.onGap?.(trimmed);
    }
    const pump = (): void => {
      if (!active || this.closed) return;
      const page = history.entriesAfter(cursor, pageSize);
      for (const entry of page) deliver(entry);
      if (!active) return;
      if (page.length === pageSize) setImmediate(pump);
      else this.live.on(arena, deliver);
    };
    setImmediate(pump);
    return () => {
      active = false;
      this.live.off(arena, deliver);
    };
  }

  /** @internal Saves acks within a second, in one transaction for all arenas. */
  saveAcksSoon(): void {
    this.ackTimer ??= setTimeout(() => {
      try {
        this.saveAcks();
      } catch {
        // kept in memory: the next save or close writes them
      }
    }, 1000).unref();
  }

  /** @internal */
  saveAcks(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.closed) return;
    const txn = this.env.beginTxn();
    try {
      for (const a of this.arenas.values()) a.saveAcks(txn);
      txn.commit();
    } catch (err) {
      txn.abort();
      throw toRealizeError(err);
    }
  }

  /** Closes the environment (saving acks first); the object and its arenas are unusable afterwards. */
  close(): void {
    if (this.closed) return;
    this.saveAcks();
    this.closed = true;
    this.live.removeAllListeners();
    this.entriesDbi.close();
    this.filesDbi.close();
    this.metaDbi.close();
    this.env.close();
    openPaths.delete(this.path);
  }

  /** @internal */
  check(): void {
    if (this.closed) throw new RealizeError('usage', 'the history database is closed');
  }
}

export class ArenaHistory {
  private readonly prefix: Buffer;
  private readonly unsavedAcks = new Map<string, number>();
  private last: number;
  private trimmed: number;

  /** @internal */
  constructor(
    private readonly db: HistoryDb,
    readonly name: string,
  ) {
    this.prefix = Buffer.from(`${name}\0`);
    const txn = db.env.beginTxn({ readOnly: true });
    try {
      this.last = readNumber(txn, db.metaDbi, this.metaKey(SEQ_KEY));
      this.trimmed = readNumber(txn, db.metaDbi, this.metaKey(TRIM_KEY));
    } finally {
      txn.abort();
    }
  }

  /** Records one change (and updates the file index in the same transaction). */
  append(change: Change): HistoryEntry {
    return this.appendMany([change])[0]!;
  }

  /** Records changes in order, in one transaction; returns them numbered. */
  appendMany(changes: Change[]): HistoryEntry[] {
    this.db.check();
    if (changes.length === 0) return [];
    const time = Date.now();
    const entries = changes.map((c, i) => toEntry(c, this.last + 1 + i, time));
    const { env, entriesDbi, filesDbi, metaDbi } = this.db;
    const txn = env.beginTxn();
    try {
      for (const e of entries) {
        txn.putBinary(entriesDbi, this.entryKey(e.seq), Buffer.from(JSON.stringify(e)));
        const key = this.fileKey(e.path);
        if (e.kind === 'remove') {
          if (txn.getBinary(filesDbi, key) !== null) txn.del(filesDbi, key);
          continue;
        }
        let state = e.hash !== undefined ? { size: e.size ?? 0, mtime: e.mtime ?? 0, hash: e.hash } : undefined;
        if (e.kind === 'rename') {
          const fromKey = this.fileKey(e.from!);
          const old = txn.getBinary(filesDbi, fromKey);
          if (old !== null) {
            txn.del(filesDbi, fromKey);
            state ??= JSON.parse(old.toString()) as FileState;
          }
        }
        if (state) txn.putBinary(filesDbi, key, Buffer.from(JSON.stringify(state)));
      }
      txn.putNumber(metaDbi, this.metaKey(SEQ_KEY), this.last + entries.length);
      txn.commit();
    } catch (err) {
      txn.abort();
      throw new RealizeError('io', `cannot record history of arena ${this.name}: ${toRealizeError(err).message}`, { cause: err });
    }
    this.last += entries.length;
    for (const e of entries) this.db.live.emit(this.name, e);
    return entries;
  }

  /** Entries with seq > `seq`, oldest first, at most `limit`. */
  entriesAfter(seq: number, limit = Infinity): HistoryEntry[] {
    this.db.check();
    const out: HistoryEntry[] = [];
    if (limit <= 0) return out;
    const txn = this.db.env.beginTxn({ readOnly: true });
    const cursor = new lmdb.Cursor<Buffer>(txn, this.db.entriesDbi, { keyIsBuffer: true });
    try {
      for (let k = cursor.goToRange(this.entryKey(Math.max(0, seq) + 1)); k !== null && this.owns(k); k = cursor.goToNext()) {
        out.push(JSON.parse(cursor.getCurrentBinary()!.toString()) as HistoryEntry);
        if (out.length >= limit) break;
      }
    } finally {
      cursor.close();
      txn.abort();
    }
    return out;
  }

  /** The seq of the last entry ever recorded (0 if none); survives trimming and restarts. */
  lastSeq(): number {
    return this.last;
  }

  /** The highest seq trimmed away (0 if none): entries up to it are gone. */
  trimmedThrough(): number {
    return this.trimmed;
  }

  /**
   * Records that `peer` has every entry up to `seq`. Acks only move forward.
   * Cheap enough to call on every ack message: they reach the disk within a
   * second (and on `trim` and `close`); one lost in a crash only keeps
   * entries a little longer.
   */
  ack(peer: string, seq: number): void {
    this.db.check();
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RealizeError('usage', `invalid acknowledged seq ${seq} from ${peer}`);
    const value = Math.min(seq, this.last);
    if (value <= this.acked(peer)) return;
    this.unsavedAcks.set(peer, value);
    this.db.saveAcksSoon();
  }

  /** The seq `peer` acknowledged (0 if never). */
  acked(peer: string): number {
    this.db.check();
    const unsaved = this.unsavedAcks.get(peer);
    if (unsaved !== undefined) return unsaved;
    const txn = this.db.env.beginTxn({ readOnly: true });
    try {
      return readNumber(txn, this.db.metaDbi, this.metaKey(`ack\0${peer}`));
    } finally {
      txn.abort();
    }
  }

  /** @internal Writes the acks not yet on disk, in `txn`. */
  saveAcks(txn: Lmdb.Txn): void {
    for (const [peer, seq] of this.unsavedAcks) txn.putNumber(this.db.metaDbi, this.metaKey(`ack\0${peer}`), seq);
    this.unsavedAcks.clear();
  }

  /**
   * Deletes the entries every one of `peers` has acknowledged; returns how
   * many. With no peers nothing is trimmed (a peer that appears later would
   * have nothing to replay).
   */
  trim(peers: string[]): number {
    this.db.check();
    if (peers.length === 0) return 0;
    const upTo = Math.min(...peers.map((p) => this.acked(p)));
    if (upTo <= this.trimmed) return 0;
    this.db.saveAcks();
    const { env, entriesDbi, metaDbi } = this.db;
    const txn = env.beginTxn();
    const cursor = new lmdb.Cursor<Buffer>(txn, entriesDbi, { keyIsBuffer: true });
    let removed = 0;
    try {
      for (let k = cursor.goToRange(this.entryKey(this.trimmed + 1)); k !== null && this.owns(k) && seqOf(k) <= upTo; k = cursor.goToNext()) {
        cursor.del();
        removed++;
      }
      cursor.close();
      txn.putNumber(metaDbi, this.metaKey(TRIM_KEY), upTo);
      txn.commit();
    } catch (err) {
      txn.abort();
      throw toRealizeError(err);
    }
    this.trimmed = upTo;
    return removed;
  }

  /**
   * The index of current files: path -> size, mtime, hash; with `under`
   * (a directory path), only the files below it.
   */
  files(under?: string): Map<string, FileState> {
    this.db.check();
    const out = new Map<string, FileState>();
    const start = under === undefined ? this.prefix : this.fileKey(`${under}/`);
    const txn = this.db.env.beginTxn({ readOnly: true });
    const cursor = new lmdb.Cursor<Buffer>(txn, this.db.filesDbi, { keyIsBuffer: true });
    try {
      for (let k = cursor.goToRange(start); k !== null && startsWith(k, start); k = cursor.goToNext()) {
        out.set(k.subarray(this.prefix.length).toString(), JSON.parse(cursor.getCurrentBinary()!.toString()) as FileState);
      }
    } finally {
      cursor.close();
      txn.abort();
    }
    return out;
  }

  /** One file of the index, if known. */
  file(path: string): FileState | undefined {
    this.db.check();
    const txn = this.db.env.beginTxn({ readOnly: true });
    try {
      const v = txn.getBinary(this.db.filesDbi, this.fileKey(path));
      return v === null ? undefined : (JSON.parse(v.toString()) as FileState);
    } finally {
      txn.abort();
    }
  }

  private owns(key: Buffer): boolean {
    return startsWith(key, this.prefix);
  }

  private entryKey(seq: number): Buffer {
    const k = Buffer.alloc(this.prefix.length + 8);
    this.prefix.copy(k);
    k.writeBigUInt64BE(BigInt(seq), this.prefix.length);
    return k;
  }

  private fileKey(path: string): Buffer {
    return Buffer.concat([this.prefix, Buffer.from(path)]);
  }

  private metaKey(name: string): Buffer {
    return Buffer.concat([this.prefix, Buffer.from(name)]);
  }
}

function startsWith(key: Buffer, prefix: Buffer): boolean {
  return key.length >= prefix.length && key.subarray(0, prefix.length).equals(prefix);
}

function seqOf(key: Buffer): number {
  return Number(key.readBigUInt64BE(key.length - 8));
}

function readNumber(txn: Lmdb.Txn, dbi: Lmdb.Dbi, key: Buffer): number {
  const v = txn.getNumber(dbi, key);
  return typeof v === 'number' ? v : 0;
}

function toEntry(c: Change, seq: number, time: number): HistoryEntry {
  parsePath(c.path);
  const e: HistoryEntry = { seq, time, kind: c.kind, path: c.path };
  if (c.kind === 'rename') {
    if (c.from === undefined) throw new RealizeError('usage', `a rename of ${c.path} needs the path it came from`);
    e.from = parsePath(c.from);
  } else if (c.kind !== 'remove' && c.hash === undefined) {
    throw new RealizeError('usage', `an ${c.kind} of ${c.path} needs the file's hash`);
  }
  if (c.kind !== 'remove') {
    if (c.size !== undefined) e.size = c.size;
    if (c.mtime !== undefined) e.mtime = c.mtime;
    if (c.hash !== undefined) e.hash = c.hash;
  }
  return e;
}

/** Where a state directory keeps the history, for messages and tests. */
export function historyPath(stateDir: string): string {
  return join(resolve(stateDir), 'history');
}
