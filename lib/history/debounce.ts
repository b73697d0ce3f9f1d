// Turns raw watcher events into operations for the recorder. A file being
// written produces a stream of events; it is reported once it has been quiet
// for `quietMs`, or at once when its writer closed it (IN_CLOSE_WRITE) or it
// arrived whole by a rename. Removals and renames pass through at once, after
// cancelling or moving whatever was pending for the paths they touch, so the
// order of operations on one path is the order of the events.
import type { WatchEvent } from '../native.js';

export type Op =
  /** The file at `path` may have been added or changed: look at it. */
  | { op: 'settle'; path: string }
  | { op: 'remove'; path: string; isDir: boolean }
  | { op: 'rename'; from: string; path: string; isDir: boolean }
  /** Events were lost: compare the whole tree with the index. */
  | { op: 'rescan' }
  | { op: 'error'; message: string };

export interface DebounceOptions {
  /** How long a file must be free of events before it is reported (default 200 ms). */
  quietMs?: number;
}

export class Debouncer {
  private readonly quietMs: number;
  /** path -> deadline; insertion order is deadline order (re-touching re-inserts). */
  private readonly pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = 0;
  private closed = false;

  constructor(
    private readonly emit: (ops: Op[]) => void,
    options: DebounceOptions = {},
  ) {
    this.quietMs = options.quietMs ?? 200;
  }

  /** Paths waiting to become quiet. */
  get waiting(): number {
    return this.pending.size;
  }

  push(events: WatchEvent[]): void {
    if (this.closed) return;
    const ops: Op[] = [];
    const now = Date.now();
    const ready = new Set<string>();
    for (const e of events) {
      switch (e.kind) {
        case 'add':
        case 'update':
          if (e.isDir) break; // its contents arrive as their own events
          this.pending.delete(e.path);
          if (e.closed) ready.add(e.path);
          else {
            ready.delete(e.path);
            this.pending.set(e.path, now + this.quietMs);
          }
          break;
        case 'remove':
          this.cancel(e.path, !!e.isDir, ready);
          ops.push({ op: 'remove', path: e.path, isDir: !!e.isDir });
          break;
        case 'rename': {
          const from = e.from ?? '';
          const moved = this.cancel(from, !!e.isDir, ready);
          // A file replaced by the rename: whatever was pending for it is moot.
          this.cancel(e.path, !!e.isDir, ready);
          ops.push({ op: 'rename', from, path: e.path, isDir: !!e.isDir });
          for (const p of moved) ready.add(e.isDir ? e.path + p.slice(from.length) : e.path);
          break;
        }
        case 'rescan':
          this.pending.clear();
          ready.clear();
          ops.push({ op: 'rescan' });
          break;
        case 'error':
          ops.push({ op: 'error', message: e.message ?? `watch error at ${e.path}` });
          break;
      }
    }
    for (const path of ready) ops.push({ op: 'settle', path });
    if (ops.length > 0) this.emit(ops);
    this.arm();
  }

  /** Reports every pending path now. */
  flush(): void {
    const ops: Op[] = [...this.pending.keys()].map((path) => ({ op: 'settle' as const, path }));
    this.pending.clear();
    this.arm();
    if (ops.length > 0) this.emit(ops);
  }

  close(): void {
    this.closed = true;
    this.pending.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Drops what is pending for `path` (or below it, for a directory); returns the dropped paths. */
  private cancel(path: string, isDir: boolean, ready: Set<string>): string[] {
    const dropped: string[] = [];
    if (!isDir) {
      if (this.pending.delete(path) || ready.delete(path)) dropped.push(path);
      return dropped;
    }
    const prefix = `${path}/`;
    for (const set of [this.pending, ready] as const) {
      for (const p of set.keys()) {
        if (p.startsWith(prefix)) {
          set.delete(p);
          dropped.push(p);
        }
      }
    }
    return dropped;
  }

  private arm(): void {
    const first = this.closed ? undefined : (this.pending.values().next().value as number | undefined);
    if (this.timer && first === this.armedFor) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (first === undefined) return;
    this.armedFor = first;
    this.timer = setTimeout(() => this.fire(), Math.max(0, first - Date.now()));
  }

  private fire(): void {
    this.timer = undefined;
    const now = Date.now();
    const ops: Op[] = [];
    for (const [path, deadline] of this.pending) {
      if (deadline > now) break;
      this.pending.delete(path);
      ops.push({ op: 'settle', path });
    }
    this.arm();
    if (ops.length > 0) this.emit(ops);
  }
}
