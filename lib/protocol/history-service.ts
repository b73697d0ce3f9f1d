// HistoryService over a Session (DESIGN §4): `subscribe(arena, afterSeq)`
// replays the entries after afterSeq as events, then streams new ones until
// the subscriber cancels; `ack(arena, seq)` lets the holder trim. Either side
// of a connection may serve it, so deaf peers share their history too.
import { RealizeError } from '../model/errors.js';
import { parsePath } from '../model/path.js';
import { checkRange } from '../model/range.js';
import type { MethodTable, Session } from './session.js';

/** A history entry as it crosses the wire. */
export interface WireEntry {
  seq: number;
  time: number;
  kind: 'add' | 'remove' | 'update' | 'rename';
  path: string;
  from?: string;
  size?: number;
  mtime?: number;
  hash?: string;
}

/** What serves history: lib/history's store, seen through this narrow window. */
export interface HistorySource {
  /** Replays then streams; returns the function that stops it. `onGap` says entries were trimmed (re-list). */
  subscribe(arena: string, afterSeq: number, onEntry: (e: WireEntry) => void, onGap: (trimmedThrough: number) => void): () => void;
  ack(arena: string, peer: string, seq: number): void;
}

/** Serves the history of `granted` arenas to `peer`. */
export function historyMethods(source: HistorySource, granted: ReadonlySet<string>, peer: string): MethodTable {
  const arena = (a: Record<string, unknown>): string => {
    if (typeof a.arena !== 'string' || !granted.has(a.arena)) throw new RealizeError('auth', `arena ${String(a.arena)} is not granted to this peer`);
    return a.arena;
  };
  return {
    async subscribe(a, _bulk, ctx) {
      const name = arena(a);
      const after = checkRange(0, a.afterSeq).length;
      ctx.longLived();
      await new Promise<void>((resolve) => {
        const stop = source.subscribe(name, after, (entry) => ctx.emit({ entry }), (trimmed) => ctx.emit({ gap: trimmed }));
        ctx.signal.addEventListener('abort', () => {
          stop();
          resolve();
        }, { once: true });
      });
      return {};
    },
    async ack(a) {
      source.ack(arena(a), peer, checkRange(0, a.seq).length);
      return {};
    },
  };
}

export interface Subscription {
  /** Settles when the subscription ends: cancelled, or the session closed (rejects with why). */
  done: Promise<void>;
  cancel(): void;
}

/** Subscribes to the other side's history of `arena`. */
export function subscribeHistory(session: Session, arena: string, afterSeq: number, onEntry: (e: WireEntry) => void, onGap?: (trimmedThrough: number) => void): Subscription {
  const controller = new AbortController();
  const done = session
    .call('subscribe', { arena, afterSeq }, {
      signal: controller.signal,
      onEvent: (event) => {
        const e = event as { entry?: unknown; gap?: unknown };
        if (typeof e.gap === 'number') onGap?.(e.gap);
        else onEntry(wireEntry(e.entry));
      },
    })
    .then(
      () => {},
      (err: RealizeError) => {
        if (!controller.signal.aborted) throw err;
      },
    );
  done.catch(() => {});
  return { done, cancel: () => controller.abort() };
}

export async function ackHistory(session: Session, arena: string, seq: number): Promise<void> {
  await session.call('ack', { arena, seq });
}

const KINDS = new Set(['add', 'remove', 'update', 'rename']);

/** Entries from the other side are input: checked before use. */
function wireEntry(v: unknown): WireEntry {
  const e = v as Partial<WireEntry> | null;
  if (!e || typeof e.seq !== 'number' || typeof e.path !== 'string' || typeof e.kind !== 'string' || !KINDS.has(e.kind)) {
    throw new RealizeError('protocol', 'malformed history entry');
  }
  return {
    seq: e.seq,
    time: typeof e.time === 'number' ? e.time : Date.now(),
    kind: e.kind,
    path: parsePath(e.path),
    ...(typeof e.from === 'string' ? { from: parsePath(e.from) } : {}),
    ...(typeof e.size === 'number' ? { size: e.size } : {}),
    ...(typeof e.mtime === 'number' ? { mtime: e.mtime } : {}),
    ...(typeof e.hash === 'string' ? { hash: e.hash } : {}),
  };
}
