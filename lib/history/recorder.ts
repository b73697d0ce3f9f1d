// Records one arena's local changes into the history store: a startup scan
// (what changed while the daemon was down, compared with the store's file
// index; only files whose size or mtime changed are hashed), then live
// watching (native inotify watcher -> debouncer -> here). Operations are
// applied in order; hashing runs ahead of them in parallel, and the changes
// they produce are committed in batches (one LMDB transaction each).
import { EventEmitter } from 'node:events';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { toRealizeError } from '../model/errors.js';
import { isValidPath } from '../model/path.js';
import { watchTree, type TreeWatch } from '../native.js';
import { Debouncer, type Op } from './debounce.js';
import { hashRoot, type HashFn } from './hash.js';
import { scanTree } from './scan.js';
import type { Change, FileState, HistoryDb } from './store.js';

export interface RecorderLog {
  warn(msg: string): void;
  debug?(msg: string): void;
}

export interface RecorderOptions {
  /** Quiet time before a file being written is reported (default 200 ms). */
  quietMs?: number;
  /** Files hashed at once (default 4). */
  concurrency?: number;
  /** How files are hashed (default: the native BLAKE3 root). */
  hash?: HashFn;
  /** Where problems go (default: `warn: history: ...` lines on stderr). */
  log?: RecorderLog;
  /** How the tree is watched (default: the native `watchTree`); tests inject lost events here. */
  watch?: typeof watchTree;
}

export interface RecorderStats {
  /** Files hashed since start. */
  hashed: number;
  /** History entries recorded since start. */
  recorded: number;
  /** Full scans done (the startup scan, then one per rescan). */
  scans: number;
}

export interface Recorder {
  /** Resolves once the startup scan is recorded (live changes are watched from before it began); rejects if the tree cannot be watched. */
  readonly ready: Promise<void>;
  readonly stats: RecorderStats;
  /** Resolves when no change is waiting: nothing pending in the debouncer and every operation applied. */
  idle(): Promise<void>;
  /** Stops watching; changes not yet applied are found by the next startup scan. */
  close(): void;
}

/** Size, mtime and hash of a path as seen on disk, looked up ahead of its turn. */
type Look =
  | { present: false }
  | { present: true; size: number; mtime: number; hash?: string; error?: string };

const BATCH = 512;
/** Under load, commits are at least this far apart (each one syncs the disk). */
const GROUP_MS = 20;

/** A FIFO of operations that does not copy itself on every shift. */
class OpQueue {
  private items: Op[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(ops: Op[]): void {
    for (const op of ops) this.items.push(op);
  }
  at(i: number): Op | undefined {
    return this.items[this.head + i];
  }
  shift(): Op | undefined {
    if (this.head >= this.items.length) return undefined;
    const op = this.items[this.head++];
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return op;
  }
}

export function recordArena(db: HistoryDb, arenaName: string, root: string, options: RecorderOptions = {}): Recorder {
  const arena = db.arena(arenaName);
  const hash = options.hash ?? hashRoot;
  const concurrency = options.concurrency ?? 4;
  const log: RecorderLog = options.log ?? { warn: (m) => process.stderr.write(`warn: history: ${m}\n`) };
  const stats: RecorderStats = { hashed: 0, recorded: 0, scans: 0 };
  const events = new EventEmitter();
  const queue = new OpQueue();
  queue.push([{ op: 'rescan' }]);
  const looks = new WeakMap<Op, Promise<Look>>();
  let running = false;
  let closed = false;
  let watch: TreeWatch | undefined;
  let resolveReady!: () => void;
  let rejectReady!: (err: unknown) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => {}); // a caller that never awaits it is told through log instead

  // Changes decided but not yet committed, and what they make the index say.
  let batch: Change[] = [];
  const overlay = new Map<string, FileState | null>();
  const current = (path: string): FileState | undefined => (overlay.has(path) ? (overlay.get(path) ?? undefined) : arena.file(path));
  const record = (change: Change): void => {
    batch.push(change);
    if (change.kind === 'remove') overlay.set(change.path, null);
    else {
      if (change.kind === 'rename') {
        const old = current(change.from!);
        overlay.set(change.from!, null);
        overlay.set(change.path, old ?? null);
      }
      if (change.hash !== undefined) overlay.set(change.path, { size: change.size!, mtime: change.mtime!, hash: change.hash });
    }
  };
  let lastCommit = 0;
  let commitTimer: NodeJS.Timeout | undefined;
  const commit = (): void => {
    if (commitTimer) clearTimeout(commitTimer);
    commitTimer = undefined;
    if (batch.length === 0) return;
    lastCommit = Date.now();
    const changes = batch;
    batch = [];
    overlay.clear();
    arena.appendMany(changes);
    stats.recorded += changes.length;
    log.debug?.(`recorded ${changes.length} change(s) in arena ${arenaName}`);
  };

  /** Commits now if the batch is full or it has been a while; else soon, with what else arrives. */
  const commitSoon = (): void => {
    if (batch.length === 0) return;
    const wait = GROUP_MS - (Date.now() - lastCommit);
    if (batch.length >= BATCH || wait <= 0) return commit();
    commitTimer ??= setTimeout(() => {
      commitTimer = undefined;
      try {
        if (!closed) commit();
      } catch (err) {
        log.warn(toRealizeError(err).message);
      }
    }, wait);
  };

  const hashOf = async (abs: string): Promise<string> => {
    stats.hashed++;
    return hash(abs);
  };

  /** What `path` is on disk; hashed unless the index already has this size and mtime. */
  const look = async (path: string): Promise<Look> => {
    const abs = join(root, path);
    try {
      const st = lstatSync(abs);
      if (!st.isFile()) return { present: false };
      const known = arena.file(path);
      if (known && known.size === st.size && known.mtime === st.mtimeMs) return { present: true, size: st.size, mtime: st.mtimeMs };
      // A change while it is hashed comes with its own event: that settles it again.
      return { present: true, size: st.size, mtime: st.mtimeMs, hash: await hashOf(abs) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'not_found') return { present: false };
      return { present: true, size: -1, mtime: -1, error: toRealizeError(err).message };
    }
  };

  const settle = async (op: Op & { op: 'settle' }): Promise<void> => {
    if (!isValidPath(op.path)) return;
    const seen = await (looks.get(op) ?? look(op.path));
    const known = current(op.path);
    if (!seen.present) {
      if (known) record({ kind: 'remove', path: op.path });
      return;
    }
    if (seen.error !== undefined) {
      log.warn(seen.error);
      return;
    }
    if (known && known.size === seen.size && known.mtime === seen.mtime) return;
    const h = seen.hash ?? (await hashOf(join(root, op.path)));
    record({ kind: known ? 'update' : 'add', path: op.path, size: seen.size, mtime: seen.mtime, hash: h });
  };

  const remove = (op: Op & { op: 'remove' }): void => {
    if (!op.isDir) {
      if (current(op.path)) record({ kind: 'remove', path: op.path });
      return;
    }
    commit();
    for (const path of arena.files(op.path).keys()) record({ kind: 'remove', path });
  };

  const rename = async (op: Op & { op: 'rename' }): Promise<void> => {
    if (!op.isDir) {
      const old = current(op.from);
      if (old && isValidPath(op.path)) record({ kind: 'rename', from: op.from, path: op.path, ...old });
      else if (old) record({ kind: 'remove', path: op.from });
      else await settle({ op: 'settle', path: op.path });
      return;
    }
    commit();
    for (const [path, state] of arena.files(op.from)) {
      const to = op.path + path.slice(op.from.length);
      record(isValidPath(to) ? { kind: 'rename', from: path, path: to, ...state } : { kind: 'remove', path });
    }
  };

  /** Compares the whole tree with the index: the startup scan, and after an overflow. */
  const rescan = async (): Promise<void> => {
    commit();
    const scan = await scanTree(root);
    for (const e of scan.errors) log.warn(e);
    const index = arena.files();
    for (const path of index.keys()) if (!scan.files.has(path)) record({ kind: 'remove', path });
    commit();
    const changed = [...scan.files].filter(([path, f]) => {
      const known = index.get(path);
      return !known || known.size !== f.size || known.mtime !== f.mtime;
    });
    for (let i = 0; i < changed.length && !closed; i += BATCH) {
      const part = changed.slice(i, i + BATCH).map(([path]) => ({ op: 'settle' as const, path }));
      for (const op of part) looks.set(op, limit(() => look(op.path)));
      for (const op of part) await settle(op);
      commit();
    }
    stats.scans++;
  };

  // At most `concurrency` looks run at once; the rest wait their turn.
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  const limit = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (inFlight >= concurrency) await new Promise<void>((r) => waiting.push(r));
    inFlight++;
    try {
      return await fn();
    } finally {
      inFlight--;
      waiting.shift()?.();
    }
  };

  /** Starts looking at the next settles ahead of their turn. */
  const prefetch = (): void => {
    const ahead = Math.min(queue.length, concurrency * 4);
    for (let i = 0; i < ahead; i++) {
      const op = queue.at(i)!;
      if (op.op === 'settle' && !looks.has(op)) looks.set(op, limit(() => look(op.path)));
    }
  };

  const run = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      while (queue.length > 0 && !closed) {
        prefetch();
        const op = queue.shift()!;
        try {
          switch (op.op) {
            case 'settle':
              await settle(op);
              break;
            case 'remove':
              remove(op);
              break;
            case 'rename':
              await rename(op);
              break;
            case 'rescan':
              await rescan();
              if (stats.scans === 1) resolveReady();
              break;
            case 'error':
              log.warn(op.message);
              break;
          }
          if (batch.length >= BATCH) commit();
          else if (queue.length === 0) commitSoon();
        } catch (err) {
          batch = [];
          overlay.clear();
          if (op.op === 'rescan' && stats.scans === 0) {
            rejectReady(toRealizeError(err));
            closed = true;
            watch?.close();
            debouncer.close();
          } else log.warn(toRealizeError(err).message);
        }
      }
    } finally {
      running = false;
      if (!closed && queue.length > 0) void run();
      else events.emit('idle');
    }
  };

  const debouncer = new Debouncer(
    (ops) => {
      queue.push(ops);
      void run();
    },
    { quietMs: options.quietMs },
  );

  try {
    watch = (options.watch ?? watchTree)(root, (batchOfEvents) => debouncer.push(batchOfEvents));
    void run();
  } catch (err) {
    closed = true;
    rejectReady(err);
  }

  return {
    ready,
    stats,
    async idle() {
      for (;;) {
        if (closed) return;
        if (!running && queue.length === 0 && debouncer.waiting === 0 && batch.length === 0) return;
        await new Promise<void>((r) => {
          const done = (): void => {
            clearTimeout(t);
            events.off('idle', done);
            r();
          };
          const t = setTimeout(done, 20);
          events.on('idle', done);
        });
      }
    },
    close() {
      if (closed) return;
      closed = true;
      if (commitTimer) clearTimeout(commitTimer);
      watch?.close();
      debouncer.close();
      try {
        commit();
      } catch {
        // the next startup scan finds these changes
      }
      rejectReady(new Error('the recorder was closed before its startup scan finished'));
    },
  };
}
