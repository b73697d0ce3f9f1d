// The state realize-watch shows, fed by small input events: a peer's
// connection state, a history entry, a transfer's progress, the Unreal
// cache's figures, and a run's start/retry/summary (for `realize-watch -`).
// Renderers (the ink app, plain lines) only read it; whoever has the events
// (the stdin reader, the daemon's subscriptions) calls `apply`.

export type PeerState = 'connected' | 'connecting' | 'disconnected' | 'offline';

/** A change as a history feed shows it: a history entry, or anything with a kind and a path. */
export interface FeedChange {
  kind: string;
  path: string;
  from?: string;
  size?: number;
  seq?: number;
  /** When it happened, ms since the epoch (default: when it arrived). */
  time?: number;
}

export type WatchInput =
  | { type: 'peer'; peer: string; state: PeerState; address?: string; detail?: string }
  | { type: 'history'; peer: string; arena: string; entry: FeedChange }
  | {
      type: 'transfer';
      /** Stable per transfer (e.g. the path, or peer/arena/path). */
      id: string;
      path: string;
      size: number;
      /** Bytes of this file done so far. */
      done: number;
      state: 'active' | 'done' | 'failed';
      peer?: string;
      arena?: string;
      /** For `done`: moved, copied, unchanged... */
      action?: string;
      hash?: string;
      error?: string;
    }
  | { type: 'cache'; bytes: number; quota?: number; hits?: number; misses?: number }
  | { type: 'run'; phase: 'start' | 'retry' | 'summary' | 'note'; text: string; ok?: boolean; files?: number; bytes?: number };

export interface PeerView {
  peer: string;
  state: PeerState;
  address?: string;
  detail?: string;
  since: number;
}

export interface FeedItem {
  time: number;
  kind: string;
  path: string;
  from?: string;
  size?: number;
  peer?: string;
  arena?: string;
  /** A hash, or an error for a failed transfer. */
  detail?: string;
  failed?: boolean;
}

export interface TransferView {
  id: string;
  path: string;
  size: number;
  done: number;
  peer?: string;
  arena?: string;
  /** Bytes per second, smoothed; undefined until two samples far enough apart. */
  rate?: number;
  since: number;
  sampleAt: number;
  sampleDone: number;
}

export interface CacheView {
  bytes: number;
  quota?: number;
  hits?: number;
  misses?: number;
}

export interface RunView {
  text: string;
  ok?: boolean;
  files?: number;
  bytes?: number;
  filesDone: number;
  filesFailed: number;
  /** Bytes of finished files. */
  bytesDone: number;
}

export interface WatchState {
  peers: Map<string, PeerView>;
  /** Oldest first, at most `FEED_LIMIT`; `feedDropped` older ones were let go. */
  feed: FeedItem[];
  feedDropped: number;
  transfers: Map<string, TransferView>;
  cache?: CacheView;
  run?: RunView;
}

export const FEED_LIMIT = 2000;
const RATE_SAMPLE_MS = 200;

export class WatchModel {
  readonly state: WatchState = { peers: new Map(), feed: [], feedDropped: 0, transfers: new Map() };
  /** Bumped on every change, for renderers that poll or memoize. */
  version = 0;
  private readonly listeners = new Set<(input: WatchInput, state: WatchState) => void>();

  /** Calls `fn` after each applied input; returns the function that stops it. */
  subscribe(fn: (input: WatchInput, state: WatchState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  apply(input: WatchInput, now = Date.now()): void {
    const s = this.state;
    switch (input.type) {
      case 'peer': {
        const old = s.peers.get(input.peer);
        s.peers.set(input.peer, {
          peer: input.peer,
          state: input.state,
          address: input.address ?? old?.address,
          detail: input.detail,
          since: old?.state === input.state ? old.since : now,
        });
        break;
      }
      case 'history': {
        const e = input.entry;
        this.push({ time: e.time ?? now, kind: e.kind, path: e.path, from: e.from, size: e.size, peer: input.peer, arena: input.arena });
        break;
      }
      case 'transfer':
        this.transfer(input, now);
        break;
      case 'cache':
        s.cache = { bytes: input.bytes, quota: input.quota, hits: input.hits, misses: input.misses };
        break;
      case 'run': {
        if (input.phase === 'note') {
          this.push({ time: now, kind: 'note', path: '', detail: input.text });
          break;
        }
        const run = s.run ?? { text: '', filesDone: 0, filesFailed: 0, bytesDone: 0 };
        run.text = input.text;
        if (input.ok !== undefined) run.ok = input.ok;
        if (input.files !== undefined) run.files = input.files;
        if (input.bytes !== undefined) run.bytes = input.bytes;
        s.run = run;
        if (input.phase === 'summary') s.transfers.clear(); // the run is over: nothing is moving any more
        break;
      }
    }
    this.version++;
    for (const fn of this.listeners) fn(input, s);
  }

  private transfer(t: WatchInput & { type: 'transfer' }, now: number): void {
    const s = this.state;
    if (t.state !== 'active') {
      s.transfers.delete(t.id);
      const run = (s.run ??= { text: '', filesDone: 0, filesFailed: 0, bytesDone: 0 });
      if (t.state === 'done') {
        run.filesDone++;
        run.bytesDone += t.size;
      } else run.filesFailed++;
      this.push({
        time: now,
        kind: t.state === 'failed' ? 'failed' : (t.action ?? 'done'),
        path: t.path,
        size: t.size,
        peer: t.peer,
        arena: t.arena,
        detail: t.state === 'failed' ? t.error : t.hash,
        failed: t.state === 'failed',
      });
      return;
    }
    const v = s.transfers.get(t.id);
    if (!v) {
      s.transfers.set(t.id, { id: t.id, path: t.path, size: t.size, done: t.done, peer: t.peer, arena: t.arena, since: now, sampleAt: now, sampleDone: t.done });
      return;
    }
    v.size = t.size;
    v.done = t.done;
    const dt = now - v.sampleAt;
    if (dt >= RATE_SAMPLE_MS) {
      const rate = ((t.done - v.sampleDone) * 1000) / dt;
      v.rate = v.rate === undefined ? rate : 0.6 * v.rate + 0.4 * rate;
      v.sampleAt = now;
      v.sampleDone = t.done;
    }
  }

  private push(item: FeedItem): void {
    const feed = this.state.feed;
    feed.push(item);
    if (feed.length > FEED_LIMIT) {
      const drop = feed.length - FEED_LIMIT;
      feed.splice(0, drop);
      this.state.feedDropped += drop;
    }
  }
}
