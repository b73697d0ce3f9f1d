// The file service every peer offers for its arenas (DESIGN §4,
// RealizeService), as a TypeScript interface. The Real (lib/storage)
// implements it on local disk; lib/protocol carries it over any byte stream;
// lib/sync moves files between any two of them without knowing which is which.
import type { RealizeError } from './errors.js';
import type { ArenaPath } from './path.js';

export interface FileEntry {
  path: ArenaPath;
  size: number;
  /** Modification time in milliseconds since the epoch. */
  mtime: number;
  /** Inode number, so a move can check its source is still the file it hashed. */
  ino: number;
  /** True for a partial file (`.<name>.part`); `path` is then the final name. */
  partial: boolean;
}

/** Which form of a file a call addresses. */
export type FileForm = 'final' | 'partial';

export interface FileHashes {
  size: number;
  mtime: number;
  ino: number;
  /** BLAKE3 root, as b3sum prints it. */
  root: string;
  /** One chaining value per 1 MiB block ([root] for a file of at most one block). */
  blocks: string[];
}

/**
 * Bytes still arriving (a network request's data). `consume` hands each
 * piece to `each`, in order, as it arrives (the piece is the consumer's to
 * keep). Resolves once all arrived; rejects at once with what `each` threw
 * (the rest is then dropped as it arrives), or if the rest never comes.
 */
export interface IncomingBytes {
  readonly length: number;
  consume(each: (piece: Buffer) => void): Promise<void>;
}

/** Whether `send`'s data is still arriving, rather than in hand. */
export function isIncoming(data: Buffer | readonly Buffer[] | IncomingBytes): data is IncomingBytes {
  return !Buffer.isBuffer(data) && !Array.isArray(data);
}

/** Bytes in one buffer, or in the pieces they arrived in (passed on as they are). */
export type Bytes = Buffer | readonly Buffer[];

export function byteLength(data: Bytes): number {
  return Buffer.isBuffer(data) ? data.length : data.reduce((n, c) => n + c.length, 0);
}

/** Bytes read from a file, with the values of the whole blocks among them (the last may end the file). */
export interface HashedBytes {
  data: Bytes;
  blocks: string[];
}

/** A whole (small) file read in one call, with its hashes and the version read. */
export interface WholeFile extends FileHashes {
  data: Buffer;
}

/** One whole file to write with `putMany`. */
export interface WholePut {
  path: ArenaPath;
  data: Buffer;
  /** Milliseconds since the epoch. */
  mtime: number;
  /** The BLAKE3 root `data` must hash to. */
  root: string;
}

/**
 * What `hash` and `hashMany` do with the hashes the service remembers of
 * the very version at hand (same device, inode, size, mtime and ctime):
 * let them answer instead of reading the file again, and remember those made
 * ('use'), or only remember those made, reading every file ('refresh').
 * For a `--copy`; never for a file a move will delete.
 */
export type CacheUse = 'use' | 'refresh';

export interface HashOptions {
  cache?: CacheUse;
}

/** The identity of a file version: a move deletes its source only if it still matches. */
export interface FileIdentity {
  size: number;
  mtime: number;
  ino: number;
}

/** Whether `a` and `b` are one version of a file. */
export function sameVersion(a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && a.mtime === b.mtime && a.ino === b.ino;
}

/** `sameVersion` as a key: equal for versions it calls the same. */
export function versionKey(v: FileIdentity): string {
  return `${v.ino}:${v.size}:${v.mtime}`;
}

/** Just the version of something that has one (hashes, an entry), as sent where only it counts. */
export function identityOf(v: FileIdentity): FileIdentity {
  return { size: v.size, mtime: v.mtime, ino: v.ino };
}

/** The version of a file a stat describes. */
export function versionOf(st: { size: number; mtimeMs: number; ino: number }): FileIdentity {
  return { size: st.size, mtime: st.mtimeMs, ino: st.ino };
}

export interface ListOptions {
  /** Only files under this directory prefix. */
  prefix?: ArenaPath;
  /** Include partial files. */
  partials?: boolean;
}

/** What a listing found but does not sync: counted, never followed. */
export interface Skipped {
  symlinks: number;
  /** Devices, fifos, sockets. */
  special: number;
  emptyDirs: number;
  /** Files named like partial files (`.NAME.part`), in a listing without partials: never synced (an older side does not count them). */
  partials?: number;
}

export interface Listing {
  files: FileEntry[];
  skipped: Skipped;
}

export interface FileService {
  /** Arenas this service exposes to its caller. */
  arenas(): string[];
  list(arena: string, opts?: ListOptions): Promise<Listing>;
  /**
   * Bytes of a range of the file (final form unless told). A service reading
   * its own disk reads into `into` (at least `length` bytes) when given one
   * and returns a view of it; one across a network returns its own buffer.
   */
  read(arena: string, path: ArenaPath, offset: number, length: number, form?: FileForm, into?: Buffer): Promise<Buffer>;
  /**
   * `read`, with the values of the blocks read, computed by the side that
   * read them as they passed (SRC's own word for what it sent): `offset` is
   * a block boundary, `version` the file as listed. Refused
   * (RealizeError('conflict')) if the file is no longer that version once
   * read: the values then may mix two versions, and a copy made of them
   * would be a file that never existed.
   */
  readHashed(arena: string, path: ArenaPath, offset: number, length: number, version: FileIdentity, into?: Buffer): Promise<HashedBytes>;
  /** Writes `data` (one buffer, pieces in order, or bytes still arriving) into the partial file at `offset`, then sets its size to `fileSize`. */
  send(arena: string, path: ArenaPath, offset: number, fileSize: number, data: Buffer | readonly Buffer[] | IncomingBytes): Promise<void>;
  /** Copies a range of the final file into the partial (content that did not change), setting its size to `fileSize`. */
  reuse(arena: string, path: ArenaPath, offset: number, length: number, fileSize: number): Promise<void>;
  /**
   * Checks that the partial hashes to `root` (else RealizeError('verify'),
   * partial kept), sets its mtime (ms) and renames it to final. With
   * `replaces`, the final file it may replace: none (null), or that version;
   * another found there (made or changed since it was checked) is
   * RealizeError('conflict'), both kept. Durable once a `flush` that starts
   * after it returns.
   */
  finish(arena: string, path: ArenaPath, mtime: number, root: string, replaces?: FileIdentity | null): Promise<FileIdentity>;
  /**
   * Whole final files with their hashes, a batch in one call: how small files
   * travel. One result per path, in order: the file, or why not (a file over
   * `maxSize` bytes is RealizeError 'conflict': it grew since it was listed).
   */
  fetchMany(arena: string, paths: ArenaPath[], maxSize: number): Promise<(WholeFile | RealizeError)[]>;
  /** `fetchMany` without the bytes: the hashes and version of each file, how a batch of small files both sides hold is compared. */
  hashMany(arena: string, paths: ArenaPath[], maxSize: number, opts?: HashOptions): Promise<(FileHashes | RealizeError)[]>;
  /**
   * Writes whole files whose final names are free, a batch in one call. For
   * each: refuses data that does not hash to its root ('verify') before
   * touching anything, sets its mtime, never replaces a final file that
   * appeared meanwhile ('conflict'). One result per file, in order. Durable
   * once a `flush` that starts after it returns.
   */
  putMany(arena: string, files: WholePut[]): Promise<(FileIdentity | RealizeError)[]>;
  /**
   * Makes `paths`, finished or put before this call, durable, with
   * everything else written to the file systems holding them and the
   * arena's own: one barrier for a batch of files.
   */
  flush(arena: string, paths: ArenaPath[]): Promise<void>;
  /** Root and block hashes of the whole file (`opts.cache` counts for the final form only). */
  hash(arena: string, path: ArenaPath, form: FileForm, opts?: HashOptions): Promise<FileHashes>;
  /** Block hashes of blocks [first, first + count) of the file. */
  hashBlocks(arena: string, path: ArenaPath, form: FileForm, first: number, count: number): Promise<string[]>;
  /** Rolling-hash signature of a range of the final file. */
  signature(arena: string, path: ArenaPath, offset: number, length: number): Promise<Buffer>;
  /** Delta that turns the signature's range into this range of the final file; undefined if it would take about `limit` bytes or more. */
  diff(arena: string, path: ArenaPath, offset: number, length: number, signature: Buffer, limit?: number): Promise<Buffer | undefined>;
  /**
   * Applies a delta against the final file and writes the result at `offset`
   * (a block boundary) of the partial file. `blocks` are the block values
   * the result must have, from block offset / BLOCK_SIZE on (SRC's): checked
   * before anything is written, so a corrupt delta, or a base that changed
   * since its signature, is RealizeError('verify').
   */
  applyDelta(arena: string, path: ArenaPath, offset: number, fileSize: number, delta: Buffer, blocks: string[]): Promise<void>;
  /**
   * Removes final and partial forms; with `ifMatch` (a move deleting its
   * source), only the final file, and only if it is still that version: a
   * name of the partial form there may be a file of the user's, never listed.
   * Returns whether a final file was deleted.
   */
  delete(arena: string, path: ArenaPath, ifMatch?: FileIdentity): Promise<boolean>;
  /** Sets the partial file's size. */
  truncate(arena: string, path: ArenaPath, fileSize: number): Promise<void>;
}
