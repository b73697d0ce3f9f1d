// Brings files level from SRC to DST (DESIGN §5, steps 2–5): small fresh
// files whole, a batch in one fetch and one put; small files DST holds at the
// same size (with a --copy, any such file) compared by root, a batch in one
// hashMany a side; others in ranges sent, or cut into runs of blocks DST's
// partial already holds, runs reused from DST's final file and runs patched
// with rolling-hash deltas, the partial verified against SRC's BLAKE3 root
// and made final. deleteSource ends a move, once
// DST is durable, only if the source is still the file that was hashed.
import type { BufferPool } from '../model/buffers.js';
import { RealizeError, batchUnlessFailed } from '../model/errors.js';
import type { ArenaPath } from '../model/path.js';
import { ByteRange, splitRanges } from '../model/range.js';
import { byteLength, identityOf, type Bytes, type CacheUse, type FileEntry, type FileHashes, type FileIdentity, type FileService, type WholeFile } from '../model/service.js';
import { BLOCK_SIZE, rootFromBlocks } from '../native.js';
import type { Limit } from '../model/limit.js';

export interface Side {
  files: FileService;
  arena: string;
}

export interface FileJob {
  src: ArenaPath;
  dst: ArenaPath;
  entry: FileEntry;
  dstFinal?: FileEntry;
  dstPartial?: FileEntry;
  /** Another file of SRC that DST's final file at this path is (same inode, size and mtime): writing there would write over it. */
  aliasOf?: ArenaPath;
}

export type Method = 'read' | 'send' | 'reuse' | 'diff' | 'apply' | 'resume';

export interface TransferOptions {
  /** Bytes per range; a multiple of the block size. */
  rangeSize: number;
  /** Shared bound on ranges in flight. */
  limit: Limit;
  /**
   * Shared bound on ranges brought level against DST's final file (blocks
   * reused, runs patched with deltas), besides `limit`: each takes three
   * steps across the two ends (a signature at DST, a diff at SRC, an apply
   * at DST), so more of them in flight keep both ends busy meanwhile. One
   * sent whole takes a slot of `limit` too.
   */
  deltaLimit: Limit;
  /**
   * Shared bound on small ranges (at most SMALL_RANGE bytes) in flight, so
   * small files do not wait for slots sized for large ranges.
   */
  smallLimit: Limit;
  /** Called as bytes of the file are brought level, with how. */
  onBytes(bytes: number, method: Method): void;
  /** Called when a range fell back from a delta to sending it whole. */
  onFallback(): void;
  /** What the services do with the hashes they remember (a copy's; none for a move). */
  cache?: CacheUse;
  /** Buffers that ranges read from a local SRC are read into. */
  buffers: BufferPool;
  /** SRC's hash of a file, if one was made of the version listed before DST answered (Ahead). */
  prehashed?: (entry: FileEntry) => Promise<FileHashes | undefined>;
  /** SRC's small file, if it was read, as listed, before DST answered (Ahead). */
  readAhead?: (entry: FileEntry) => Promise<WholeFile | undefined>;
  signal: AbortSignal;
}

export interface Outcome {
  /** False when DST already held this content. */
  changed: boolean;
  hash: string;
  /** The version of SRC's file that was hashed: a move deletes it only if it still matches. */
  source: FileIdentity;
  /** When DST already held this content: the version of DST's file that holds it. */
  held?: FileIdentity;
}

/** Extra bytes of DST's final file around a range that a signature covers, so content shifted across range edges still matches. */
const WINDOW_MARGIN = 256 << 10;
/** Largest range that counts against `smallLimit` rather than `limit`. */
export const SMALL_RANGE = 256 << 10;
/** Fresh files up to this size travel whole, in batches (transferSmall). */
export const SMALL_FILE = SMALL_RANGE;
/** A batch of small files holds at most this many files and, as listed, this many bytes (a range's worth). */
export const BATCH_FILES = 128;
export const BATCH_BYTES = 8 << 20;

export async function transferFile(src: Side, dst: Side, job: FileJob, opts: TransferOptions): Promise<Outcome> {
  if (!job.dstFinal && !job.dstPartial) return sendFresh(src, dst, job, opts);
  const size = job.entry.size;
  const cached = { cache: opts.cache };
  const srcHashing = (async () => (await opts.prehashed?.(job.entry)) ?? src.files.hash(src.arena, job.src, 'final', cached))();
  srcHashing.catch(() => {});

  let finalHashes: FileHashes | undefined;
  if (job.dstFinal) {
    finalHashes = await dst.files.hash(dst.arena, job.dst, 'final', cached);
    const srcHash = await srcHashing;
    if (finalHashes.root === srcHash.root) return { changed: false, hash: srcHash.root, source: srcHash, held: finalHashes };
    if (finalHashes.mtime > srcHash.mtime) {
      throw new RealizeError('conflict', 'conflict: the destination is newer than the source (changed on both sides?); kept both, deleted nothing');
    }
  }
  const partialBlocks = job.dstPartial ? (await dst.files.hash(dst.arena, job.dst, 'partial')).blocks : undefined;
  // Block hashes decide what moves.
  const srcHash = await srcHashing;
  const finalSize = finalHashes?.size ?? 0;
  const sameAt = finalHashes ? sameBlocks(srcHash, finalHashes.blocks, finalSize) : () => false;
  // A block the partial already holds (an earlier run wrote it, perhaps
  // before being killed mid-range) stays; of the others, those DST's final
  // file holds at the same place are reused and only the runs between them
  // are diffed (a 1% edit then costs a signature and a diff of 1% of the
  // file, not of every range it touches).
  const kindOf = (b: number): BlockKind => (partialBlocks?.[b] === srcHash.blocks[b] ? 'held' : sameAt(b) ? 'same' : 'other');

  let wrote = false;
  // A range DST's final file reaches into takes a delta slot; sent whole
  // (new content), it takes a slot of `limit` as well for its buffer, so
  // range-sized buffers stay bounded by `limit`.
  const slotOf = (range: ByteRange) => (range.start < finalSize ? opts.deltaLimit : opts.limit);
  await eachRange(size, opts, slotOf, async (range, _, slot) => {
    const sendWhole = (run: ByteRange) => (slot === opts.deltaLimit ? opts.limit.run(() => sendRange(src, dst, job, run, size, opts)) : sendRange(src, dst, job, run, size, opts));
    await Promise.all(
      blockRuns(range, kindOf).map(async ({ run, first, end: endBlock, kind }) => {
        if (kind === 'held') return opts.onBytes(run.length, 'resume');
        wrote = true;
        if (kind === 'same') {
          await dst.files.reuse(dst.arena, job.dst, run.start, run.length, size);
          return opts.onBytes(run.length, 'reuse');
        }
        if (!finalHashes) return sendWhole(run);
        // Content shifts only within a run bounded by reused blocks; at
        // other edges the signature looks further into DST's file.
        const margin = (b: number) => (b < 0 || sameAt(b) ? 0 : WINDOW_MARGIN);
        const start = Math.max(0, run.start - margin(first - 1));
        const end = Math.min(finalSize, run.end + margin(endBlock));
        if (end > start && (await patch(src, dst, job, run, new ByteRange(start, end), size, srcHash.blocks.slice(first, endBlock), opts))) return;
        await sendWhole(run);
      }),
    );
  });
  if (!wrote) await dst.files.truncate(dst.arena, job.dst, size);
  opts.signal.throwIfAborted();

  await verifyAndFinish(src, dst, job, srcHash, finalHashes ? identityOf(finalHashes) : null, opts);
  return { changed: true, hash: srcHash.root, source: srcHash };
}

/** Runs `each` over the file's ranges, as many at a time as the shared limits allow (`slotOf` says which for a large range), telling it whose slot it holds. */
async function eachRange(size: number, opts: TransferOptions, slotOf: (range: ByteRange) => Limit, each: (range: ByteRange, index: number, slot: Limit) => Promise<void>): Promise<void> {
  await Promise.all(
    splitRanges(size, opts.rangeSize).map((range, i) => {
      const slot = range.length <= SMALL_RANGE ? opts.smallLimit : slotOf(range);
      return slot.run(async () => {
        opts.signal.throwIfAborted();
        await each(range, i, slot);
      });
    }),
  );
}

/**
 * Small files DST has no form of, a batch at a time: one fetch from SRC, one
 * put to DST. One result per job, in order; a failure of the batch as a
 * whole (the network) is thrown.
 */
export async function transferSmall(src: Side, dst: Side, jobs: FileJob[], opts: Pick<TransferOptions, 'limit' | 'signal' | 'readAhead'>): Promise<(Outcome | RealizeError)[]> {
  return opts.limit.run(async () => {
    opts.signal.throwIfAborted();
    const fetched = await fromSource(jobs, opts.readAhead, (paths) => src.files.fetchMany(src.arena, paths, SMALL_FILE));
    opts.signal.throwIfAborted();
    const withDst = fetched.map((f, i) => (f instanceof RealizeError ? f : { f, dst: jobs[i]!.dst }));
    return batchUnlessFailed(withDst, async (ok) => {
      const put = await dst.files.putMany(dst.arena, ok.map(({ f, dst: path }) => ({ path, data: f.data, mtime: f.mtime, root: f.root })));
      return put.map((r, k): Outcome | RealizeError => {
        const { f } = ok[k]!;
        return r instanceof RealizeError ? r : { changed: true, hash: f.root, source: identityOf(f) };
      });
    });
  });
}

/** What comparing a file DST holds settled: the same content, or not (with SRC's hashes, when it made them, of whichever version it found). */
export type Compared = { same: Outcome } | { srcHash?: FileHashes };

/**
 * Files DST holds at the same size, a batch at a time (small ones, or any
 * whose hashes both sides may remember): both sides hash theirs in one call
 * each, and the same root is the same content, left as it is. One result per
 * job, in order; where it is not the same (the contents differ, or either
 * side could not hash its file: one over SMALL_FILE that it does not
 * remember), transferFile brings it level or reports it. A failure of the
 * batch as a whole (the network) is thrown.
 */
export async function compareHeld(src: Side, dst: Side, jobs: FileJob[], opts: Pick<TransferOptions, 'limit' | 'signal' | 'prehashed' | 'cache'>): Promise<Compared[]> {
  return opts.limit.run(async () => {
    opts.signal.throwIfAborted();
    const cached = { cache: opts.cache };
    const [theirs, ours] = await Promise.all([
      fromSource(jobs, opts.prehashed, (paths) => src.files.hashMany(src.arena, paths, SMALL_FILE, cached)),
      dst.files.hashMany(dst.arena, jobs.map((j) => j.dst), SMALL_FILE, cached),
    ]);
    return jobs.map((_, i): Compared => {
      const s = theirs[i]!;
      const d = ours[i]!;
      if (s instanceof RealizeError) return {};
      if (d instanceof RealizeError || s.root !== d.root) return { srcHash: s };
      return { same: { changed: false, hash: s.root, source: s, held: d } };
    });
  });
}

/** SRC's side of a batch of small files: what `ahead` has of them (read or hashed ahead), the others in one call of `get`. */
async function fromSource<T>(jobs: FileJob[], ahead: ((entry: FileEntry) => Promise<T | undefined>) | undefined, get: (paths: ArenaPath[]) => Promise<(T | RealizeError)[]>): Promise<(T | RealizeError)[]> {
  const had = await Promise.all(jobs.map((j) => ahead?.(j.entry)));
  const rest = jobs.filter((_, i) => !had[i]);
  const got = rest.length > 0 ? await get(rest.map((j) => j.src)) : [];
  let k = 0;
  return had.map((a) => a ?? got[k++]!);
}

/**
 * A file DST has no form of: one hashed while DST was being reached is only
 * read (a change since shows at DST's check); any other is hashed as it is
 * sent (sendHashing).
 */
async function sendFresh(src: Side, dst: Side, job: FileJob, opts: TransferOptions): Promise<Outcome> {
  const hashed = await opts.prehashed?.(job.entry);
  if (hashed) await eachRange(hashed.size, opts, () => opts.limit, (range) => sendRange(src, dst, job, range, hashed.size, opts));
  const sent = hashed ?? (await sendHashing(src, dst, job, opts));
  opts.signal.throwIfAborted();
  await verifyAndFinish(src, dst, job, sent, null, opts);
  return { changed: true, hash: sent.root, source: sent };
}

/**
 * Sends every range, SRC hashing each as it reads it, so it is read once,
 * and the root is SRC's own word for exactly the bytes sent; the version
 * listed is the one a move may delete.
 */
async function sendHashing(src: Side, dst: Side, job: FileJob, opts: TransferOptions): Promise<FileHashes> {
  const { size, mtime, ino } = job.entry;
  const ranges: string[][] = [];
  await eachRange(size, opts, () => opts.limit, async (range, i) => {
    const buffer = opts.buffers.take(range.length);
    const read = await src.files.readHashed(src.arena, job.src, range.start, range.length, job.entry, buffer).catch(giveBack(buffer, opts));
    await dst.files.send(dst.arena, job.dst, range.start, size, whole(read.data, range, job, opts));
    opts.buffers.give(buffer);
    ranges[i] = read.blocks;
    opts.onBytes(range.length, 'send');
  });
  const blocks = ranges.flat();
  return { size, mtime, ino, blocks, root: rootFromBlocks(size, blocks) };
}

/** What block `b` of SRC needs: nothing (DST's partial holds it), a copy from the same place in DST's final file, or its bytes. */
type BlockKind = 'held' | 'same' | 'other';

/**
 * Whether block `b` of SRC is the same block of DST's final file, held whole
 * there. Past SRC's end it is not (DST's tail may hold content SRC moved
 * forward).
 */
function sameBlocks(src: FileHashes, finalBlocks: string[], finalSize: number): (b: number) => boolean {
  return (b) => b < src.blocks.length && src.blocks[b] === finalBlocks[b] && Math.min((b + 1) * BLOCK_SIZE, src.size) <= finalSize;
}

/** `range`, which starts at a block, cut into runs of blocks [first, end) of one kind. */
function blockRuns(range: ByteRange, kindOf: (b: number) => BlockKind): { run: ByteRange; first: number; end: number; kind: BlockKind }[] {
  const runs: { run: ByteRange; first: number; end: number; kind: BlockKind }[] = [];
  const last = Math.ceil(range.end / BLOCK_SIZE);
  for (let b = range.start / BLOCK_SIZE; b < last; ) {
    const kind = kindOf(b);
    let e = b + 1;
    while (e < last && kindOf(e) === kind) e++;
    runs.push({ run: new ByteRange(b * BLOCK_SIZE, Math.min(range.end, e * BLOCK_SIZE)), first: b, end: e, kind });
    b = e;
  }
  return runs;
}

/** The data read for `range`, refused if the source shrank since it was listed. */
function whole<B extends Bytes>(data: B, range: ByteRange, job: FileJob, opts: TransferOptions): B {
  if (byteLength(data) !== range.length) throw new RealizeError('conflict', `the source changed while being read (${job.src} is shorter than listed); kept`);
  opts.onBytes(0, 'read');
  return data;
}

/** A read into `buffer` that failed returns it to the pool (nothing else holds it yet), then fails. */
function giveBack(buffer: Buffer, opts: TransferOptions): (err: unknown) => never {
  return (err) => {
    opts.buffers.give(buffer);
    throw err;
  };
}

async function sendRange(src: Side, dst: Side, job: FileJob, range: ByteRange, size: number, opts: TransferOptions): Promise<void> {
  const buffer = opts.buffers.take(range.length);
  const data = await src.files.read(src.arena, job.src, range.start, range.length, 'final', buffer).catch(giveBack(buffer, opts));
  await dst.files.send(dst.arena, job.dst, range.start, size, whole(data, range, job, opts));
  opts.buffers.give(buffer);
  opts.onBytes(range.length, 'send');
}

/**
 * Rolling-hash delta of one range against `window` of DST's final file, its
 * result checked against SRC's block values `want`; false when sending it
 * whole is better. SRC gives up a delta that would be about as large as the
 * range (new content) without building it: no such delta then takes memory
 * here or crosses from a remote SRC only to be sent again as the range.
 */
async function patch(src: Side, dst: Side, job: FileJob, range: ByteRange, window: ByteRange, size: number, want: string[], opts: TransferOptions): Promise<boolean> {
  const sig = await dst.files.signature(dst.arena, job.dst, window.start, window.length);
  const delta = await src.files.diff(src.arena, job.src, range.start, range.length, sig, range.length);
  opts.onBytes(0, 'diff');
  // SRC's estimate is within a few bytes; an older SRC builds it anyway.
  if (!delta || delta.length >= range.length) {
    opts.onFallback();
    return false;
  }
  try {
    await dst.files.applyDelta(dst.arena, job.dst, range.start, size, delta, want);
  } catch (err) {
    if (!(err instanceof RealizeError) || err.code !== 'verify') throw err;
    opts.onFallback();
    return false;
  }
  opts.onBytes(range.length, 'apply');
  return true;
}

/**
 * Makes DST's partial final; DST checks it hashes to SRC's root, and that
 * its final file is still `replaces` (the version checked; null: none), so
 * one made or changed meanwhile is a conflict. Differing blocks are re-sent once.
 */
async function verifyAndFinish(src: Side, dst: Side, job: FileJob, srcHash: FileHashes, replaces: FileIdentity | null, opts: TransferOptions): Promise<void> {
  try {
    await dst.files.finish(dst.arena, job.dst, srcHash.mtime, srcHash.root, replaces);
    return;
  } catch (err) {
    if (!(err instanceof RealizeError) || err.code !== 'verify') throw err;
  }
  const got = await dst.files.hash(dst.arena, job.dst, 'partial');
  const size = srcHash.size;
  const bad = srcHash.blocks.map((h, i) => (got.blocks[i] === h ? -1 : i)).filter((i) => i >= 0);
  for (const b of bad) {
    const start = b * BLOCK_SIZE;
    await sendRange(src, dst, job, new ByteRange(start, Math.min(size, start + BLOCK_SIZE)), size, opts);
  }
  if (bad.length === 0 || got.size !== size) await dst.files.truncate(dst.arena, job.dst, size);
  opts.signal.throwIfAborted();
  try {
    await dst.files.finish(dst.arena, job.dst, srcHash.mtime, srcHash.root, replaces);
  } catch (err) {
    if (err instanceof RealizeError && err.code === 'verify') {
      throw new RealizeError('verify', `verification failed twice for ${job.src}: did the source change while being moved? kept`);
    }
    throw err;
  }
}

/** The last step of a move, once DST's copy is durable: deletes SRC's file if it is still `source`. */
export async function deleteSource(src: Side, job: FileJob, source: FileIdentity): Promise<void> {
  try {
    await src.files.delete(src.arena, job.src, identityOf(source));
  } catch (err) {
    if (err instanceof RealizeError && err.code === 'conflict') {
      throw new RealizeError('conflict', 'the source changed during its move; copied, source kept');
    }
    throw err;
  }
}
