// The only module that loads the Rust addon. Everything else imports named
// functions from here, so a missing or stale build fails in one place with a
// message that says what to do.
import { createRequire } from 'node:module';
import { resolve as resolvePath } from 'node:path';
import { RealizeError, firstLine, type ErrorCode } from './model/errors.js';
import type * as Binding from '../native/dist/binding.js';

function load(): typeof Binding {
  const require = createRequire(import.meta.url);
  try {
    return require('../../native/dist/binding.cjs') as typeof Binding;
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new Error(`the native addon is not built (${why}); run 'npm install' or 'npm run build:native'`);
  }
}

const native = load();

// ---- Errors: the addon's messages, classified once ----
const NATIVE_ERRORS: [RegExp, ErrorCode][] = [
  [/\(os error 2\)/, 'not_found'],
  [/\(os error (28|122)\)/, 'no_space'],
  [/\(os error (1|13|30)\)/, 'denied'],
  [/since it was listed|appeared at the destination|(shrank|changed) while it was being read/, 'conflict'],
  [/does not match its BLAKE3|changed since its signature/, 'verify'],
  [/^invalid (signature|delta)|more than the \d+ allowed|not 64 hex digits/, 'protocol'],
  [/^cannot diff range|must be a non-negative integer|block hash\(es\), got/, 'path'],
];

/** The addon's error as a RealizeError, keeping its message. */
function fromNative(err: unknown): RealizeError {
  if (err instanceof RealizeError) return err;
  const message = firstLine(err instanceof Error ? err.message : String(err));
  const code = NATIVE_ERRORS.find(([re]) => re.test(message))?.[1] ?? 'io';
  return new RealizeError(code, message, { cause: err });
}

/** The failure of one item of a batch call, classified like any of the addon's errors. */
function itemError(message: string | undefined): RealizeError {
  return fromNative(new Error(message ?? 'unknown error'));
}

function sync<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fromNative(err);
  }
}

async function later<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw fromNative(err);
  }
}

// ---- The BLAKE3 hash tree ----

/** Bytes per hash-tree block: 1 MiB. */
export const BLOCK_SIZE: number = native.BLOCK_SIZE;

/** Values in the hash tree of a file of `size` bytes: one per block, one for a file of at most a block (an empty one too). */
export function blockCount(size: number): number {
  return Math.max(1, Math.ceil(size / BLOCK_SIZE));
}

/** A file's BLAKE3 hash tree. */
export interface FileHash {
  /** BLAKE3 of the whole file: the 64 hex digits `b3sum` prints. */
  root: string;
  /** Bytes per block: 1048576. */
  blockSize: number;
  /** One hex chaining value per 1 MiB block; `[root]` for a file of at most one block. */
  blocks: string[];
  /** Bytes hashed: the file's size when it was opened. */
  size: number;
}

/**
 * Hashes a regular file (off the JS thread, blocks in parallel on every
 * core): its root and every block's chaining value in one pass. A directory,
 * FIFO or missing file is a RealizeError.
 */
export function hashFile(path: string): Promise<FileHash> {
  return later(() => native.hashFile(path));
}

/**
 * Chaining values of blocks `[firstBlock, firstBlock + count)`, clipped at
 * the end of the file: the same values `hashFile` lists (so `[root]` for a
 * file of at most one block).
 */
export function hashBlocks(path: string, firstBlock: number, count: number): Promise<string[]> {
  return later(() => native.hashBlocks(path, firstBlock, count));
}

/**
 * Reads `length` bytes at `offset` of a file into `into` (untouched by the
 * caller until this settles), each chunk hashed right after its read, while
 * still in the cache: how many bytes were read (fewer if the file is shorter
 * now) and, when all were, the values of the blocks they hold as blocks of a
 * file of `fileSize` bytes.
 */
export function readHashed(path: string, offset: number, length: number, fileSize: number, into: Buffer): Promise<{ length: number; blocks: string[] }> {
  return later(() => native.readHashed(path, offset, length, fileSize, into));
}

/**
 * Copies `[offset, offset + length)` of the file at `path` to the same place
 * of the open file `outFd` (which must stay open until the promise settles)
 * through a buffer that stays in the cache, hashing it on the way: the
 * values of the blocks copied when they are whole blocks from a block
 * boundary (the last may end a file of `fileSize` bytes), else none. A
 * source shorter than the range is RealizeError 'conflict'; a full disk
 * 'no_space'.
 */
export function copyHashed(path: string, offset: number, length: number, fileSize: number, outFd: number): Promise<string[]> {
  return later(() => native.copyHashed(path, offset, length, fileSize, outFd));
}

/**
 * Combines block chaining values into the root of a file of `fileSize`
 * bytes; throws when their number does not fit that size.
 */
export function rootFromBlocks(fileSize: number, blocks: string[]): string {
  return sync(() => native.rootFromBlocks(fileSize, blocks));
}

/** Whether `blocks` are the block values of a `fileSize`-byte file whose BLAKE3 is `root`. */
export function verifyBlocks(root: string, fileSize: number, blocks: string[]): boolean {
  return sync(() => native.verifyBlocks(root, fileSize, blocks));
}

// ---- Rolling-hash deltas ----

/** Longest signature window and longest delta output: 64 MiB. */
export const MAX_DELTA_WINDOW: number = native.MAX_DELTA_WINDOW;

export interface SignatureOptions {
  /** Block length in bytes (64..1048576); default about sqrt(2 * length), 4 KiB for 8 MiB. */
  blockLength?: number;
  /** Bytes of BLAKE3 kept per block (2..32); default from the window size. */
  strongLength?: number;
}

/**
 * Rolling-hash signature of `[offset, offset + length)` of a file (clipped
 * at its end, at most 64 MiB). Ask for a window a little wider than the
 * range you will diff, so content shifted across the range's edges still
 * matches. The window is recorded in the signature.
 */
export function signature(path: string, offset: number, length: number, options?: SignatureOptions): Promise<Buffer> {
  return later(() => native.signature(path, offset, length, options));
}

/**
 * Delta turning the signature's window (of the other side's file) into
 * `[offset, offset + length)` of this file (clipped at its end, at most
 * 64 MiB); undefined if it would take about `limit` bytes or more (within
 * a few dozen bytes), given up before the range's bytes are copied into it.
 * A malformed signature is a RealizeError (code 'protocol').
 */
export function diff(path: string, offset: number, length: number, sig: Uint8Array): Promise<Buffer>;
export function diff(path: string, offset: number, length: number, sig: Uint8Array, limit: number | undefined): Promise<Buffer | undefined>;
export async function diff(path: string, offset: number, length: number, sig: Uint8Array, limit?: number): Promise<Buffer | undefined> {
  return (await later(() => native.diff(path, offset, length, sig, limit))) ?? undefined;
}

/** The block values the output of a delta must have: it starts at block `firstBlock` of a file of `fileSize` bytes. */
export interface ExpectedBlocks {
  firstBlock: number;
  fileSize: number;
  /** Chaining values (hex), as hashFile lists them. */
  blocks: string[];
}

/**
 * Rebuilds the new bytes a delta describes, reading the base window it
 * names (the signature's window) from `basePath`, and writes them at
 * `outOffset` of the open file `outFd`. Refuses, as a RealizeError, before
 * writing anything: a malformed delta ('protocol'), one producing more than
 * `maxOutput` bytes ('protocol'), and a result whose block values differ
 * from `expect`, e.g. because the base changed since its signature
 * ('verify'). `outFd` must stay open until the promise settles.
 */
export function applyDeltaTo(basePath: string, delta: Uint8Array, maxOutput: number, expect: ExpectedBlocks, outFd: number, outOffset: number): Promise<void> {
  return later(() => native.applyDeltaTo(basePath, delta, maxOutput, expect.firstBlock, expect.fileSize, expect.blocks, outFd, outOffset));
}

export interface DeltaInfo {
  /** Start of the base window it copies from. */
  windowOffset: number;
  /** Length of that window. */
  windowLength: number;
  /** Bytes it produces. */
  outputLength: number;
}

/** A delta's header (checks the header only). */
export function deltaInfo(delta: Uint8Array): DeltaInfo {
  return sync(() => native.deltaInfo(delta));
}

// ---- Whole small files, durability ----

/** Which version of a file this is (as `fs.Stats`: size, mtimeMs, ino). */
export interface FileStamp {
  size: number;
  /** Milliseconds since the epoch, equal to `fs.Stats.mtimeMs`. */
  mtime: number;
  ino: number;
}

/** A whole file with its hash tree and the version that was read. */
export interface FetchedFile extends FileStamp {
  data: Buffer;
  root: string;
  blocks: string[];
}

/**
 * Reads and hashes whole regular files, a batch in one call off the JS
 * thread: for each path, the file or why not as a RealizeError. The files'
 * data are adjacent views of one buffer, in order. A symbolic
 * link is refused (O_NOFOLLOW); a file over `maxSize` bytes is 'conflict'
 * (it grew since it was listed).
 */
export async function fetchFiles(paths: string[], maxSize: number): Promise<(FetchedFile | RealizeError)[]> {
  // One buffer for the batch; each file's data is a view of it.
  const { data, files } = await later(() => native.fetchFiles(paths, maxSize));
  let at = 0;
  return files.map((o) => {
    if (!o.file) return itemError(o.error);
    const f = { ...o.file, data: data.subarray(at, at + o.file.size) };
    at += o.file.size;
    return f;
  });
}

/** One file for `putFiles`. */
export interface PutFile {
  /** The checked directory that will hold it. */
  dir: string;
  partName: string;
  finalName: string;
  /** Its bytes, used where they are (not copied). */
  data: Buffer;
  /** Milliseconds since the epoch. */
  mtime: number;
  root: string;
}

/** A whole file's hash tree and the version that was read (fetchFiles without the bytes). */
export type HashedFile = Omit<FetchedFile, 'data'>;

/** fetchFiles without the bytes: each file's hash tree and version, or why not, for files of at most `maxSize` bytes. */
export async function hashFiles(paths: string[], maxSize: number): Promise<(HashedFile | RealizeError)[]> {
  return (await later(() => native.hashFiles(paths, maxSize))).map((o) => o.file ?? itemError(o.error));
}

/**
 * Writes whole files, a batch in one call. For each file: refuses bytes
 * that do not hash to its root ('verify') before touching the disk, writes
 * its partial name, sets its mtime and renames it to its final name, which
 * must not exist ('conflict' if one appeared). Not durable until `syncFs`.
 */
export async function putFiles(files: PutFile[]): Promise<(FileStamp | RealizeError)[]> {
  return (await later(() => native.putFiles(files))).map((o) => o.stamp ?? itemError(o.error));
}

/** One entry of a directory, as `scanDir` lists it. */
export type DirEntryInfo =
  | { name: string; kind: 'file'; size: number; mtime: number; ino: number }
  | { name: string; kind: 'dir' | 'symlink' | 'special' };

/**
 * Every entry of a directory in one call off the JS thread: its kind, and
 * for a regular file its size, mtime (as `fs.Stats.mtimeMs`) and inode, from
 * an lstat (links are never followed). Names that are not UTF-8 are left
 * out. A missing directory is RealizeError('not_found').
 */
export async function scanDir(dir: string): Promise<DirEntryInfo[]> {
  return (await later(() => native.scanDir(dir))) as DirEntryInfo[];
}

/** Bytes per path of `versionsOf`. */
export const VERSION_RECORD: number = native.VERSION_RECORD;

/**
 * The exact version of each path, in one call off the JS thread: per path,
 * in order, VERSION_RECORD bytes of device, inode, size, mtime and ctime in
 * nanoseconds, each a 64-bit little-endian integer, from an lstat (links are
 * never followed); all zeros for a path that is not a regular file.
 */
export function versionsOf(paths: string[]): Promise<Buffer> {
  return later(() => native.versionsOf(paths));
}

/** Makes everything written to the file system holding `dir` durable (syncfs): one barrier for many files. */
export function syncFs(dir: string): Promise<void> {
  return later(() => native.syncFs(dir));
}

/** Starts writing a range of an open file to disk without waiting, so a later barrier has little left to do. */
export function startWriteback(fd: number, offset: number, length: number): Promise<void> {
  return later(() => native.startWriteback(fd, offset, length));
}

/**
 * Writes `pieces`, in order, at `offset` of the open file `fd` (which must
 * stay open until the promise settles), then hashes them while they are
 * still in the cache: the values of the blocks they hold when they are whole
 * blocks from a block boundary (the last may end a file of `fileSize`
 * bytes), else none. A full disk is RealizeError 'no_space'.
 */
export function writeBlocks(fd: number, offset: number, fileSize: number, pieces: readonly Buffer[]): Promise<string[]> {
  return later(() => native.writeBlocks(fd, offset, fileSize, [...pieces]));
}

/**
 * Takes an exclusive lock on the open file `fd` without waiting; false when
 * another open of the file (another process, or another open here) holds
 * one. The lock goes when the file is closed.
 */
export function tryLockExclusive(fd: number): boolean {
  return sync(() => native.tryLockExclusive(fd));
}

// ---- Byte streams moved off the JS thread (used by lib/transport/pipe.ts) ----

export interface PipeCallbacks {
  /** Bytes read, as many as the pipe held (at most 1 MiB). */
  onData(data: Buffer): void;
  /** The other end closed the stream. */
  onEnd(): void;
  /** Reading failed ('network'); nothing more is read. */
  onError(err: RealizeError): void;
  /** The oldest queued write (or the end) is done, or failed ('network'). */
  onWritten(err?: RealizeError): void;
}

export interface PipeHandle {
  /** Queues `pieces` to be written in order. */
  write(pieces: Buffer[]): void;
  /** After the queued writes, closes the writing side. */
  end(): void;
  pause(): void;
  resume(): void;
  /** Stops both sides at once; queued writes are dropped. Idempotent. */
  close(): void;
}

/**
 * Moves a byte stream on two descriptors, each side on a thread of its own:
 * reads reach `onData` as large as the pipe had (pipes are enlarged to
 * 1 MiB), writes block on a full pipe off the JS thread. Takes both
 * descriptors and releases each when its side is done (stdin and stdout
 * are pointed at /dev/null instead). A throw in a callback becomes an
 * ordinary uncaught exception, never a native abort.
 */
export function openPipe(readFd: number, writeFd: number, cb: PipeCallbacks): PipeHandle {
  const guard = (f: () => void) => {
    try {
      f();
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  };
  const handle = sync(() =>
    native.openPipe(
      readFd,
      writeFd,
      (e) =>
        guard(() => {
          if (e.data) cb.onData(e.data);
          else if (e.end) cb.onEnd();
          else cb.onError(new RealizeError('network', `the connection failed: ${e.error ?? 'unknown error'}`));
        }),
      (error) => guard(() => cb.onWritten(error ? new RealizeError('network', `the connection failed: ${error}`) : undefined)),
    ),
  );
  return {
    write: (pieces) => sync(() => handle.write(pieces)),
    end: () => sync(() => handle.end()),
    pause: () => handle.pause(),
    resume: () => handle.resume(),
    close: () => handle.close(),
  };
}

/** A new pipe for a child's stdin or stdout, both ends close-on-exec: [readFd, writeFd]. */
export function newPipe(): [number, number] {
  const [r, w] = sync(() => native.newPipe());
  return [r!, w!];
}

/** Closes a descriptor made by newPipe (the child's end, once the child has it). */
export function closeFd(fd: number): void {
  native.closeFd(fd);
}

// ---- sd_notify ----

/**
 * Sends `state` (e.g. 'READY=1', 'STOPPING=1', 'STATUS=...') as one
 * datagram to `$NOTIFY_SOCKET` (a path, or an abstract socket if it starts
 * with '@'). Returns false when the variable is unset; throws a
 * RealizeError when the socket cannot be reached.
 */
export function sdNotify(state: string): boolean {
  return sync(() => native.sdNotify(state));
}

// ---- The recursive inotify watcher (used by lib/history) ----

/** One change under a watched root; paths are relative to it, '/'-separated. */
export interface WatchEvent {
  kind: 'add' | 'remove' | 'update' | 'rename' | 'rescan' | 'error';
  /** The path ('' for `rescan`, and for an error about the root itself). */
  path: string;
  /** For `rename`: the old path. */
  from?: string;
  isDir?: boolean;
  /** The writer closed the file (IN_CLOSE_WRITE) or it arrived whole by a rename. */
  closed?: boolean;
  /** For `error`: what went wrong and what to do. */
  message?: string;
}

export interface TreeWatch {
  /** Stops watching; no callback runs after it returns. Idempotent. */
  close(): void;
}

/**
 * Watches every directory under `root` (all watched when this returns) and
 * calls `onEvents` with batches of changes, on the JS thread, until `close()`.
 * Symlinks are not followed; partial files (`.name.part`) are never reported.
 * A throw in `onEvents` becomes an ordinary uncaught exception, never a
 * native abort. Throws a RealizeError if `root` is not a directory or the
 * inotify watch limit is reached (the message names the sysctl to raise).
 */
export function watchTree(root: string, onEvents: (events: WatchEvent[]) => void): TreeWatch {
  let open = true;
  let handle: Binding.NativeWatcher;
  try {
    handle = native.watchTree(resolvePath(root), (events) => {
      if (!open) return;
      try {
        onEvents(events as WatchEvent[]);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    });
  } catch (err) {
    const message = firstLine(err instanceof Error ? err.message : String(err));
    throw new RealizeError(/no such file/.test(message) ? 'not_found' : 'io', message, { cause: err });
  }
  return {
    close() {
      if (!open) return;
      open = false;
      handle.close();
    },
  };
}
