// The move algorithm of DESIGN §5 for a whole tree: connect both ends, list
// them, refuse SRC = DST, bring files level several at a time, retry network
// failures with backoff within --max-duration, and report every step as
// events.
import { realpath, stat } from 'node:fs/promises';
import { dirname, relative as relativePath } from 'node:path';
import type { Config } from '../config/index.js';
import { orAborted, sleep } from '../model/abort.js';
import { RealizeError, toRealizeError } from '../model/errors.js';
import { joinPath, type ArenaPath } from '../model/path.js';
import { sameVersion, versionKey, type CacheUse, type FileEntry, type FileHashes, type Listing } from '../model/service.js';
import { connect, relative, type ConnectOptions, type Endpoint } from './connect.js';
import type { Dialed } from './dial.js';
import { parseEndpoints, type EndpointSpec } from './endpoint.js';
import type { Emit, FileAction } from './events.js';
import { Limit, forEachLimited } from '../model/limit.js';
import type { SyncMetrics } from './metrics.js';
import { BufferPool } from '../model/buffers.js';
import { blockCount } from '../native.js';
import { Committer } from './commit.js';
import { Ahead } from './ahead.js';
import { refuseOneTree } from './probe.js';
import { BATCH_BYTES, BATCH_FILES, SMALL_FILE, compareHeld, deleteSource, transferFile, transferSmall, type Compared, type FileJob, type Method, type Outcome } from './transfer.js';

export interface SyncOptions {
  src: string;
  dst: string;
  copy: boolean;
  /** With `copy`: hash every file anew, not trusting hashes remembered from earlier runs. */
  rehash?: boolean;
  dryRun: boolean;
  /** Files in flight at once. */
  parallel: number;
  throttleUp?: number;
  throttleDown?: number;
  maxDurationMs?: number;
  rsh: string;
  remoteServe: string;
  config?: Config;
  rangeSize: number;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  emit: Emit;
  metrics?: SyncMetrics;
  /** Delays between retries, in ms (DESIGN §5: 5s, 15s, 30s, 1m, 2m, 5m…). */
  backoffMs?: number[];
  /** Remote ends' transports started by the caller (dialFirst): used by the first attempt, closed with it. */
  dialed?: Dialed;
}

export type SyncStatus = 'ok' | 'failed' | 'timeout' | 'interrupted';

export const BACKOFF_MS = [5, 15, 30, 60, 120, 300].map((s) => s * 1000);
/** Ranges and batches of small files in flight across all files: bounds memory whatever the file sizes. */
const RANGES_IN_FLIGHT = 4;
/**
 * Ranges brought level against DST's final file in flight besides (see
 * TransferOptions.deltaLimit): they hold no range-sized buffer here but
 * while sent whole (new content), in a slot of RANGES_IN_FLIGHT. With 4, a
 * 256 MiB file whose content shifted took 0.33 s to bring level at a peer;
 * with 8, 0.29 s.
 */
const DELTA_RANGES_IN_FLIGHT = 8;
/** Small ranges (≤ SMALL_RANGE, 256 KiB: small files DST already holds, tails of larger ones) in flight besides: at most 16 MiB more. */
const SMALL_RANGES_IN_FLIGHT = 64;
/** A move flushes DST (a syncfs) and deletes sources every this many files or this many ms, whichever comes first. */
const COMMIT_BATCH = 1000;
const COMMIT_DELAY_MS = 1000;
const DELETES_IN_FLIGHT = 16;
/** How long an interrupt waits for a probe on its way to remove its files (one round trip, unless the network hangs). */
const PROBE_GRACE_MS = 2000;
/** Files of one batch of held small files brought level at once when their contents differ. */
const HELD_DIFFERING_AT_ONCE = 4;

export async function runSync(opts: SyncOptions): Promise<SyncStatus> {
  const started = Date.now();
  const [srcSpec, dstSpec] = parseEndpoints(opts.src, opts.dst, opts.config);
  const deadline = new AbortController();
  const timer = opts.maxDurationMs ? setTimeout(() => deadline.abort(), opts.maxDurationMs) : undefined;
  const signal = AbortSignal.any([opts.signal, deadline.signal]);
  const stats = { ok: 0, failed: 0, skipped: 0, bytes: 0, sent: 0, received: 0 };
  const done = new Set<string>();
  let announced = false;
  let lastError: string | undefined;
  const backoff = opts.backoffMs ?? BACKOFF_MS;

  try {
    for (let attempt = 0; ; attempt++) {
      let src: Endpoint | undefined;
      let dst: Endpoint | undefined;
      let over = false;
      let stopAhead = () => {};
      let probing: Promise<void> | undefined;
      // Interrupted or out of time: drop the connections at once (what
      // reached DST stays as partial files), once a probe on its way has
      // removed its files, for a moment at most.
      const probeDone = () => (probing ? Promise.race([probing, new Promise((r) => setTimeout(r, PROBE_GRACE_MS).unref())]) : undefined);
      const hangUp = () => {
        const close = () => {
          src?.close();
          dst?.close();
        };
        const waiting = probeDone();
        if (waiting) void waiting.then(close);
        else close();
      };
      signal.addEventListener('abort', hangUp, { once: true });
      // Ended with the attempt, however it ends: an end still connecting then has its ssh stopped (it may be asking for a password).
      const attemptOver = new AbortController();
      const connectOpts = { config: opts.config, rsh: opts.rsh, remoteServe: opts.remoteServe, throttleUp: opts.throttleUp, throttleDown: opts.throttleDown, signal: AbortSignal.any([signal, attemptOver.signal]) };
      try {
        // Both ends at once (two ssh handshakes overlap), SRC listed while
        // DST is still being reached; an end that connects after the other
        // failed is closed on arrival. Two ssh commands go one after the
        // other: each may ask for a password on the same terminal.
        const arrived = <E extends Endpoint | undefined>(e: E): E => {
          if (over) e?.close();
          return e;
        };
        const dialed = attempt === 0 ? opts.dialed : undefined;
        const connecting = connect(srcSpec, { ...connectOpts, create: false, dialed: dialed?.src }).then(arrived);
        const oneAfterOther = srcSpec.kind === 'ssh' && dstSpec.kind === 'ssh';
        const connectingDst = (oneAfterOther ? connecting : Promise.resolve()).then(() => connectDestination(dstSpec, { ...connectOpts, dialed: dialed?.dst }, opts.dryRun)).then(arrived);
        connectingDst.then((d) => (dst = d), () => {});
        const srcListing = connecting.then((s) => (src = s).files.list(s.arena, { prefix: s.prefix }));
        srcListing.catch(() => {});
        // A local SRC is hashed and read while a remote DST is being reached (see ahead.ts); a dry run needs neither.
        const early = !opts.dryRun && dstSpec.kind !== 'local';
        const aheadOf = srcListing.then((l) => {
          if (!early || !src?.local) return undefined;
          // A retry has nothing to do for the files an earlier attempt finished.
          const left = l.files.filter((f) => !done.has(relative(src!, f.path)));
          return new Ahead(src.files, src.arena, left, { smallFile: SMALL_FILE, batchFiles: BATCH_FILES, batchBytes: BATCH_BYTES, cache: cacheUse(opts) });
        }, () => undefined);
        stopAhead = () => void aheadOf.then((a) => a?.stop());
        [src, dst] = await orAborted(Promise.all([connecting, connectingDst]), signal).catch(async (err: unknown) => {
          if (signal.aborted) throw err;
          // A local end's own mistake (no such directory) is what to report,
          // not a remote end's failure that happened to come first.
          for (const [spec, end] of [[srcSpec, connecting], [dstSpec, connectingDst]] as const) {
            const e = spec.kind === 'local' ? await end.then(() => undefined, toRealizeError) : undefined;
            if (e?.code === 'usage') throw e;
          }
          throw err;
        });
        if (dst) await refuseSameDirectory(src, dst, srcListing);
        // DST is probed for one tree seen twice (two local paths too: one
        // may be a network mount of the other) while it is listed; a dry
        // run writes nothing. Both settle before the ends may close: a probe
        // still on its way would be left behind.
        const dstListing = dst ? dst.files.list(dst.arena, { prefix: dst.prefix, partials: true }) : Promise.resolve<Listing>({ files: [], skipped: { symlinks: 0, special: 0, emptyDirs: 0 } });
        const probed = dst && !opts.dryRun ? refuseOneTree(src, dst, srcListing, dstListing, signal) : undefined;
        probing = probed?.then(() => {}, () => {});
        const [planned, refused] = await orAborted(Promise.allSettled([plan(src, srcListing, dst, dstListing, done), probed]), signal);
        if (refused.status === 'rejected') throw refused.reason;
        if (planned.status === 'rejected') throw planned.reason;
        const pending = planned.value;
        const ahead = await aheadOf;
        ahead?.stop();
        if (!announced) {
          announced = true;
          stats.skipped = pending.skipped;
          opts.emit({ event: 'start', files: pending.jobs.length, bytes: pending.jobs.reduce((n, j) => n + j.entry.size, 0), skipped: pending.skipped });
        }
        const networkFailure = await moveAll(src, dst, pending.jobs, { ...opts, ahead }, signal, stats, done);
        if (!networkFailure) break;
        throw networkFailure;
      } catch (err) {
        const e = toRealizeError(err);
        if (signal.aborted) break;
        // Only a connection that worked once is retried: refused or unauthorized is exit 1 at once.
        if (e.code !== 'network' || !announced) throw e;
        lastError = e.message;
        const delay = backoff[Math.min(attempt, backoff.length - 1)]!;
        const left = opts.maxDurationMs ? started + opts.maxDurationMs - Date.now() : Infinity;
        if (!opts.maxDurationMs && attempt >= backoff.length) throw e;
        if (delay >= left) {
          await sleep(left, opts.signal);
          // Out of time, whether or not the deadline's timer has fired yet.
          deadline.abort();
          break;
        }
        opts.emit({ event: 'retry', error: e.message, delay_seconds: delay / 1000, attempt: attempt + 1 });
        await sleep(delay, opts.signal);
        if (opts.signal.aborted) break;
      } finally {
        // An interrupt cut the wait for the probe short, not the probe's removal of its files.
        await probeDone();
        attemptOver.abort();
        stopAhead();
        over = true;
        signal.removeEventListener('abort', hangUp);
        if (src) addWire(stats, src);
        if (dst) addWire(stats, dst);
        src?.close();
        dst?.close();
      }
    }
  } finally {
    clearTimeout(timer);
  }
  const status: SyncStatus = opts.signal.aborted ? 'interrupted' : deadline.signal.aborted ? 'timeout' : stats.failed > 0 ? 'failed' : 'ok';
  opts.metrics?.wire.set({ direction: 'sent' }, stats.sent);
  opts.metrics?.wire.set({ direction: 'received' }, stats.received);
  opts.emit({
    event: 'summary',
    files_ok: stats.ok,
    files_failed: stats.failed,
    files_skipped: stats.skipped,
    bytes: stats.bytes,
    wire_bytes_sent: stats.sent,
    wire_bytes_received: stats.received,
    seconds: (Date.now() - started) / 1000,
    ...(status === 'interrupted' ? { interrupted: true } : {}),
    ...(status === 'timeout' ? { timed_out: true, error: lastError } : {}),
  });
  return status;
}

function addWire(stats: { sent: number; received: number }, e: Endpoint): void {
  const w = e.wire();
  stats.sent += w.sent;
  stats.received += w.received;
}

interface Plan {
  jobs: FileJob[];
  skipped: number;
}

/** DST, made if missing; a dry run makes nothing and treats a missing local DST as empty (undefined). */
async function connectDestination(spec: EndpointSpec, opts: Omit<ConnectOptions, 'create'>, dryRun: boolean): Promise<Endpoint | undefined> {
  if (dryRun && spec.kind === 'local' && !(await stat(spec.dir).catch(() => undefined))) return undefined;
  return connect(spec, { ...opts, create: !dryRun });
}

/** What to move: SRC's final files (`srcListing`) not yet done, matched with DST's final and partial forms (`dstListing`, with partials). */
async function plan(src: Endpoint, srcListing: Promise<Listing>, dst: Endpoint | undefined, dstListing: Promise<Listing>, done: Set<string>): Promise<Plan> {
  const [srcList, dstList] = await Promise.all([srcListing, dstListing]);
  const finals = new Map<string, FileEntry>();
  const partials = new Map<string, FileEntry>();
  for (const f of dstList.files) (f.partial ? partials : finals).set(f.path, f);
  // One end inside the other that the probe missed (a network file system
  // that answers from names it cached, such as an rclone mount): DST's
  // files are then SRC's under other names, found by inode, size and mtime.
  // (Hard links share all three: each version keeps all its names.)
  const srcByVersion = new Map<string, ArenaPath[]>();
  if (mayAlias(src, dst)) {
    for (const e of srcList.files) {
      const names = srcByVersion.get(versionKey(e));
      if (names) names.push(e.path);
      else srcByVersion.set(versionKey(e), [e.path]);
    }
  }
  const jobs: FileJob[] = [];
  for (const entry of srcList.files) {
    const rel = relative(src, entry.path);
    if (done.has(rel)) continue;
    const dstPath: ArenaPath = joinPath(dst?.prefix, rel);
    const dstFinal = finals.get(dstPath);
    const names = dstFinal ? srcByVersion.get(versionKey(dstFinal)) : undefined;
    const aliasOf = names && !names.includes(entry.path) ? names[0] : undefined;
    jobs.push({ src: entry.path, dst: dstPath, entry, dstFinal, dstPartial: partials.get(dstPath), ...(aliasOf ? { aliasOf } : {}) });
  }
  const s = srcList.skipped;
  return { jobs, skipped: s.symlinks + s.special + s.emptyDirs + (s.partials ?? 0) };
}

/**
 * Work for one slot of --parallel: one file ('file'), a batch of small files
 * DST has no form of ('new'), or a batch of files DST holds at the same
 * size ('held': most often the same, as on every run of a --copy; small
 * files only, unless hashes may be remembered).
 */
interface Unit {
  jobs: { job: FileJob; index: number }[];
  kind: 'file' | 'new' | 'held';
}

/** Block values a batch compared with remembered hashes may bring back: a reply well within a frame. */
const HELD_BLOCKS = 4096;

/** With `cached`, files DST holds at the same size are compared in batches whatever their size: remembered hashes answer for most. */
function unitsOf(jobs: FileJob[], cached: boolean): Unit[] {
  const units: Unit[] = [];
  const open = new Map<Unit['kind'], { unit: Unit; bytes: number; blocks: number }>();
  jobs.forEach((job, i) => {
    if (job.aliasOf) return;
    const item = { job, index: i + 1 };
    const kind = unitKind(job, cached);
    if (kind === 'file') return units.push({ jobs: [item], kind });
    // What a batch may read: a file over SMALL_FILE is hashed only if remembered.
    const bytes = Math.min(job.entry.size, SMALL_FILE);
    const blocks = blockCount(job.entry.size);
    let batch = open.get(kind);
    if (!batch || batch.unit.jobs.length === BATCH_FILES || batch.bytes + bytes > BATCH_BYTES || batch.blocks + blocks > HELD_BLOCKS) {
      batch = { unit: { jobs: [], kind }, bytes: 0, blocks: 0 };
      units.push(batch.unit);
      open.set(kind, batch);
    }
    batch.unit.jobs.push(item);
    batch.bytes += bytes;
    batch.blocks += blocks;
  });
  return units;
}

function unitKind(job: FileJob, cached: boolean): Unit['kind'] {
  if (job.dstPartial) return 'file';
  const small = job.entry.size <= SMALL_FILE;
  if (job.dstFinal?.size === job.entry.size && (small || (cached && blockCount(job.entry.size) <= HELD_BLOCKS))) return 'held';
  return !job.dstFinal && small ? 'new' : 'file';
}

/** Moves every job; returns the first network error (to reconnect and retry), after the other files had their chance. */
async function moveAll(src: Endpoint, dst: Endpoint | undefined, jobs: FileJob[], opts: SyncOptions & { ahead?: Ahead }, signal: AbortSignal, stats: { ok: number; failed: number; bytes: number }, done: Set<string>): Promise<RealizeError | undefined> {
  const limit = new Limit(RANGES_IN_FLIGHT);
  const deltaLimit = new Limit(DELTA_RANGES_IN_FLIGHT);
  const buffers = new BufferPool(RANGES_IN_FLIGHT);
  const smallLimit = new Limit(SMALL_RANGES_IN_FLIGHT);
  // A copy leaves flushing to the kernel, as cp and rsync do; a move makes DST durable before any deletion.
  const committer = opts.copy || !dst ? undefined : new Committer<ArenaPath>((paths) => dst.files.flush(dst.arena, paths), { batch: COMMIT_BATCH, delayMs: COMMIT_DELAY_MS, parallel: DELETES_IN_FLIGHT });
  const commits: Promise<void>[] = [];
  const total = jobs.reduce((n, j) => n + j.entry.size, 0);
  let bytesDone = 0;
  let networkFailure: RealizeError | undefined;
  const files = jobs.length;
  const srcSide = { files: src.files, arena: src.arena };
  const ahead = opts.ahead;
  const aliasing = mayAlias(src, dst);

  /** One file's events, metrics and bookkeeping. */
  const track = (job: FileJob, index: number) => {
    const path = relative(src, job.src);
    const size = job.entry.size;
    let fileDone = 0;
    const finished = (hash: string, action: FileAction) => {
      done.add(path);
      stats.ok++;
      stats.bytes += size;
      opts.metrics?.filesFinished.inc({ status: action });
      opts.emit({ event: 'file_done', index, files, path, size, hash, action });
    };
    const file = {
      start() {
        opts.metrics?.filesStarted.inc();
        opts.emit({ event: 'file_start', index, files, path, size });
      },
      onBytes(n: number, method: Method) {
        opts.metrics?.byMethod(n, method);
        // Blocks re-sent after DST refused the first copy count once.
        const step = Math.min(n, size - fileDone);
        if (step <= 0) return;
        fileDone += step;
        bytesDone += step;
        opts.emit({ event: 'progress', path, done: fileDone, size, bytes_done: bytesDone, bytes_total: total });
      },
      /** Begun again from its first byte (a retry): its progress too. */
      restart() {
        bytesDone -= fileDone;
        fileDone = 0;
      },
      dryRun() {
        done.add(path);
        stats.ok++;
        opts.emit({ event: 'file_done', index, files, path, size, hash: '', action: opts.copy ? 'would_copy' : 'would_move' });
      },
      succeeded(outcome: Outcome) {
        const action: FileAction = !outcome.changed ? 'unchanged' : opts.copy ? 'copied' : 'moved';
        if (!committer) return finished(outcome.hash, action);
        // DST's copy looks like SRC's file itself (one directory reached two
        // ways that the probe missed, such as a network file system that
        // cached a directory's names): deleting it would lose the file.
        if (outcome.held && aliasing && sameVersion(outcome.held, outcome.source)) {
          return file.failed(new RealizeError('conflict', `${opts.src} and ${opts.dst} seem to hold this very file (same inode, size and mtime: one directory reached two ways?); kept`));
        }
        // The slot is free again while the file waits for its batch's flush.
        commits.push(committer.commit(job.dst, () => deleteSource(srcSide, job, outcome.source)).then(() => finished(outcome.hash, action), file.failed));
      },
      failed(err: unknown) {
        const e = toRealizeError(err);
        if (signal.aborted) return;
        if (e.code === 'network') {
          networkFailure ??= e;
          return;
        }
        done.add(path);
        stats.failed++;
        opts.metrics?.filesFinished.inc({ status: 'failed' });
        opts.emit({ event: 'file_error', index, files, path, size, error: e.message });
      },
    };
    return file;
  };

  jobs.forEach((job, i) => {
    if (!job.aliasOf) return;
    const f = track(job, i + 1);
    f.start();
    f.failed(new RealizeError('conflict', `DST's ${job.dst} is SRC's ${job.aliasOf} (the same inode, size and mtime: one tree inside the other?); nothing written, kept`));
  });
  await forEachLimited(unitsOf(jobs, cacheUse(opts) === 'use'), Math.max(1, opts.parallel), async (unit) => {
    if (signal.aborted || networkFailure) return;
    const tracked = unit.jobs.map(({ job, index }) => track(job, index));
    for (const f of tracked) f.start();
    if (opts.dryRun || !dst) return tracked.forEach((f) => f.dryRun());
    const dstSide = { files: dst.files, arena: dst.arena };
    const common = { rangeSize: opts.rangeSize, limit, deltaLimit, smallLimit, buffers, signal, cache: cacheUse(opts), onFallback: () => opts.metrics?.fallbacks.inc(), prehashed: ahead && ((e: FileEntry) => ahead.hashes(e)), readAhead: ahead && ((e: FileEntry) => ahead.whole(e)) };
    const one = (k: number, srcHash?: FileHashes) => {
      const f = tracked[k]!;
      const job = unit.jobs[k]!.job;
      // Hashes made earlier stand for the file only if they are of the version listed.
      const given = (h: FileHashes) => async (e: FileEntry) => (sameVersion(h, e) ? h : undefined);
      const transfer = (o: typeof common) => transferFile(srcSide, dstSide, job, { ...o, onBytes: f.onBytes });
      let done = transfer({ ...common, prehashed: srcHash ? given(srcHash) : common.prehashed });
      // Hashes either end remembered, refused by DST's check (a wrong entry): both hashed anew, and remembered so.
      if (common.cache === 'use') {
        done = done.catch(async (err: unknown) => {
          if (toRealizeError(err).code !== 'verify') throw err;
          const fresh = await srcSide.files.hash(srcSide.arena, job.src, 'final', { cache: 'refresh' });
          f.restart();
          return transfer({ ...common, cache: 'refresh', prehashed: given(fresh) });
        });
      }
      return done.then(f.succeeded, f.failed);
    };
    try {
      if (unit.kind === 'new') {
        const results = await transferSmall(srcSide, dstSide, unit.jobs.map((u) => u.job), common);
        results.forEach((r, k) => {
          const f = tracked[k]!;
          if (r instanceof RealizeError) return f.failed(r);
          f.onBytes(r.source.size, 'send');
          f.succeeded(r);
        });
      } else if (unit.kind === 'held') {
        // Only the network fails the batch; anything else leaves each file to transferFile.
        const results = await compareHeld(srcSide, dstSide, unit.jobs.map((u) => u.job), common).catch((err: unknown): Compared[] => {
          if (signal.aborted || toRealizeError(err).code === 'network') throw err;
          return unit.jobs.map(() => ({}));
        });
        // The files that differ, a few at a time, as separate units would be, with SRC's hashes already made.
        const differ: { k: number; srcHash?: FileHashes }[] = [];
        results.forEach((r, k) => ('same' in r ? tracked[k]!.succeeded(r.same) : differ.push({ k, srcHash: r.srcHash })));
        await forEachLimited(differ, HELD_DIFFERING_AT_ONCE, ({ k, srcHash }) => one(k, srcHash));
      } else await one(0);
    } catch (err) {
      for (const f of tracked) f.failed(err);
    }
  });
  await committer?.drain();
  await Promise.all(commits);
  return networkFailure;
}

/** Remembered hashes may stand for reading a file only in a copy, where no file is deleted on their word; --rehash renews them. */
function cacheUse(opts: Pick<SyncOptions, 'copy' | 'rehash'>): CacheUse | undefined {
  if (!opts.copy) return undefined;
  return opts.rehash ? 'refresh' : 'use';
}

/**
 * Whether SRC and DST may be one tree reached two ways that neither the
 * directory checks nor the probe saw: both on one machine (as their host
 * names say), not both local (those are compared by device and inode). Then a file of one
 * found at the other by inode, size and mtime is taken to be that very file;
 * across machines and file systems inode numbers repeat (tmpfs counts from
 * 1 on every mount), and a copy has its source's size and mtime.
 */
function mayAlias(src: Endpoint, dst: Endpoint | undefined): boolean {
  return dst !== undefined && src.host === dst.host && !(src.local && dst.local);
}

/**
 * Refuses local SRC and DST that are one directory, or DST inside SRC, also
 * through links or bind mounts: a directory's device and inode against the
 * other's and its ancestors'. SRC inside DST is refused only where it would
 * write over SRC's own files: when SRC holds files under the path by which
 * DST reaches SRC (DST/sub is SRC, and SRC has sub/x: DST's sub/x is SRC's x).
 */
async function refuseSameDirectory(src: Endpoint, dst: Endpoint, srcListing: Promise<Listing>): Promise<void> {
  if (!src.local || !dst.local) return;
  if (src.local.dev === dst.local.dev && src.local.ino === dst.local.ino) {
    throw new RealizeError('usage', `${src.spec.text} and ${dst.spec.text} are the same directory; nothing done`);
  }
  if ((await pathUnder(dst.local.dir, src.local)) !== undefined) throw new RealizeError('usage', `${dst.spec.text} is inside ${src.spec.text}; nothing done`);
  const sub = await pathUnder(src.local.dir, dst.local);
  if (sub !== undefined && (await srcListing).files.some((f) => f.path.startsWith(sub + '/'))) {
    throw new RealizeError('usage', `${src.spec.text} is inside ${dst.spec.text} and holds ${sub}/: its files would land on its own; nothing done`);
  }
}

/** The path by which directory `top` (device and inode) reaches `dir`, if it is one of `dir`'s ancestors; a bind mount's root has the device and inode of what it shows. */
async function pathUnder(dir: string, top: { dev: number; ino: number }): Promise<string | undefined> {
  const real = await realpath(dir);
  for (let at = dirname(real); ; at = dirname(at)) {
    const st = await stat(at);
    if (st.dev === top.dev && st.ino === top.ino) return relativePath(at, real);
    if (at === dirname(at)) return undefined;
  }
}

