// One tree reached two ways that no comparison of names, devices or inodes
// made here can see: a far end's disk mounted on this machine (NFS, SMB,
// sshfs) and synced with that far end, two mounts of one directory, one end
// inside the other. Moving a directory onto itself deletes every file it
// holds, and files written where one end is inside the other land on SRC's
// own. So, before anything is written, DST takes empty files of random
// names and SRC looks for them: one at DST's top, looked for at SRC's top
// (one directory) and in every directory holding SRC's files (DST inside
// SRC); and one in each directory of DST that holds files by SRC's names,
// looked for at SRC's top (SRC inside DST, as that directory). SRC is never
// written. Probes are named like partial files, which no listing, history
// or log shows, and removed at once.
import { randomBytes } from 'node:crypto';
import { orAborted } from '../model/abort.js';
import { RealizeError, toRealizeError } from '../model/errors.js';
import { PROBE_PREFIX, isValidPath, parsePath, segments, type ArenaPath } from '../model/path.js';
import type { Listing } from '../model/service.js';
import { relative, type Endpoint } from './connect.js';

/** BLAKE3 of no bytes (what `b3sum /dev/null` prints): a probe is empty. */
const EMPTY_ROOT = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';
/** Paths put or looked up in one call: a request well within a frame and a batch. */
const PER_CALL = 1000;

/**
 * Refuses SRC and DST that are one tree seen twice (RealizeError 'usage'),
 * touching nothing but DST's probes. A DST that cannot take an empty file
 * is refused too: a move would still delete sources whose content DST
 * holds, and DST then might be SRC itself, read-only.
 */
export async function refuseOneTree(src: Endpoint, dst: Endpoint, srcListing: Promise<Listing>, dstListing: Promise<Listing>, signal: AbortSignal): Promise<void> {
  // Every path a probe was asked for is removed after, made or not (a put that failed as a whole may have made some).
  const asked: ArenaPath[] = [];
  const top = { dir: '', name: probeName() };
  try {
    // Made while both ends are listed (those calls are on their way already).
    const [topMade] = await place(dst, [top], asked);
    if (topMade instanceof RealizeError) throw new RealizeError(topMade.code, `cannot write to ${dst.spec.text} (${topMade.message}); nothing done`);
    // SRC looks for DST's top while DST is still being listed.
    const srcList = await orAborted(srcListing, signal);
    const srcDirs = directoriesOf(src, srcList);
    const topFound = findIn(src, srcDirs.map((dir) => ({ dir, name: top.name })));
    topFound.catch(() => {});
    const dstList = await orAborted(dstListing, signal);
    const [s, d] = [src.spec.text, dst.spec.text];
    const inside = await probeInside(dst, dirsLikeSrc(src, srcList, srcDirs, dst, dstList), srcDirs, new Set(directoriesOf(dst, dstList)), asked);
    const [dstInSrc, srcInDst] = await Promise.all([topFound, findIn(src, inside)]);
    if (dstInSrc?.dir === '') throw new RealizeError('usage', `${s} and ${d} are the same directory (a file made in one appeared in the other); nothing done`);
    if (dstInSrc) throw new RealizeError('usage', `${d} is inside ${s}, as its ${dstInSrc.dir}/ (a file made in one appeared there); nothing done`);
    if (srcInDst) throw new RealizeError('usage', `${s} is inside ${d}, as its ${srcInDst.of}/, and holds ${srcInDst.of}/: its files would land on its own; nothing done`);
  } finally {
    await Promise.all(asked.map((p) => dst.files.delete(dst.arena, p).catch(() => false)));
  }
}

/**
 * Probes made in the DST directories that SRC may be (`candidates`), as SRC
 * would see them: in the candidate itself, looked for at SRC's top. One
 * that takes no probe because nothing may be written there (permission, a
 * read-only mount) or its path is too deep can still be SRC where files
 * would be written: in its subdirectories, looked for in SRC's same ones
 * (those DST holds are probed in turn). Any other failure refuses the run,
 * as do over PER_CALL probes at one depth.
 */
async function probeInside(dst: Endpoint, candidates: string[], srcDirs: string[], dstDirs: Set<string>, asked: ArenaPath[]): Promise<Probe[]> {
  const children = new Map<string, string[]>();
  for (const dir of srcDirs) {
    if (dir === '') continue;
    const parent = dir.includes('/') ? dir.slice(0, dir.lastIndexOf('/')) : '';
    const siblings = children.get(parent);
    if (siblings) siblings.push(dir);
    else children.set(parent, [dir]);
  }
  const made: Probe[] = [];
  // Each: where in DST, and where SRC would show it.
  let round = candidates.map((of) => ({ of, at: '' }));
  while (round.length > 0) {
    if (round.length > PER_CALL) throw new RealizeError('usage', `${dst.spec.text} has over ${PER_CALL} directories that may be SRC and take no probe; nothing done`);
    const probes = round.map((c) => ({ dir: c.at ? `${c.of}/${c.at}` : c.of, name: probeName(), of: c.of, at: c.at }));
    const placed = await place(dst, probes, asked);
    const next: typeof round = [];
    placed.forEach((p, i) => {
      const c = probes[i]!;
      if (!(p instanceof RealizeError)) return made.push({ dir: c.at, name: c.name, of: c.of });
      // Only where nothing may be written (read-only, not ours) can files not land: any other failure (a full disk may free up) refuses.
      if (p.code !== 'denied' && p.code !== 'path') throw new RealizeError(p.code, `cannot write to ${dst.spec.text}'s ${c.dir}/ (${p.message}), which may be SRC; nothing done`);
      for (const sub of children.get(c.at) ?? []) if (dstDirs.has(`${c.of}/${sub}`)) next.push({ of: c.of, at: sub });
    });
    round = next;
  }
  return made;
}

interface Probe {
  /** Directory relative to the end's top. */
  dir: string;
  name: string;
  /** For a probe of SRC inside DST: the DST directory that may be SRC. */
  of?: string;
}

function probeName(): string {
  return `${PROBE_PREFIX}${randomBytes(16).toString('hex')}.part`;
}

/** The arena path of `p` at `e`, if it makes one (not in a directory too deep for the probe's name). */
function pathAt(e: Endpoint, p: Probe): ArenaPath | undefined {
  const text = (e.prefix ? `${e.prefix}/` : '') + (p.dir ? `${p.dir}/${p.name}` : p.name);
  return isValidPath(text) ? parsePath(text) : undefined;
}

/** Each probe made at DST: its path, or why not; the paths asked for are added to `asked`. */
async function place(dst: Endpoint, probes: Probe[], asked: ArenaPath[]): Promise<(ArenaPath | RealizeError)[]> {
  const paths = probes.map((p) => pathAt(dst, p));
  const out: (ArenaPath | RealizeError)[] = paths.map((p) => p ?? new RealizeError('path', 'too deep for a probe'));
  const todo = paths.flatMap((p, i) => (p ? [{ p, i }] : []));
  asked.push(...todo.map(({ p }) => p));
  await Promise.all(
    chunks(todo).map(async (some) => {
      const put = dst.files.putMany(dst.arena, some.map(({ p }) => ({ path: p, data: Buffer.alloc(0), mtime: Date.now(), root: EMPTY_ROOT })));
      const r = await put.catch((err: unknown) => some.map(() => toRealizeError(err)));
      some.forEach(({ p, i }, j) => {
        const x = r[j];
        out[i] = x instanceof RealizeError ? x : p;
      });
    }),
  );
  return out;
}

/** The first of `probes` (in order) that SRC holds, if any. */
async function findIn(src: Endpoint, probes: Probe[]): Promise<Probe | undefined> {
  const places = probes.flatMap((p) => {
    const at = pathAt(src, p);
    return at ? [{ p, at }] : [];
  });
  const found = await Promise.all(
    chunks(places).map(async (some) => {
      const r = await src.files.fetchMany(src.arena, some.map(({ at }) => at), 0);
      return some[r.findIndex((x) => !(x instanceof RealizeError))]?.p;
    }),
  );
  return found.find((p) => p !== undefined);
}

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += PER_CALL) out.push(items.slice(i, i + PER_CALL));
  return out;
}

/** Every directory holding an end's files, and each of their parents, relative to its top: '' first. */
function directoriesOf(e: Endpoint, listing: Listing): string[] {
  const dirs = new Set<string>(['']);
  for (const f of listing.files) {
    const parts = segments(relative(e, f.path) as ArenaPath).slice(0, -1);
    for (let n = parts.length; n > 0; n--) {
      const dir = parts.slice(0, n).join('/');
      if (dirs.has(dir)) break;
      dirs.add(dir);
    }
  }
  return [...dirs];
}

/**
 * The directories of DST, other than its top, that SRC may be (SRC inside
 * DST), among those SRC holds too (only there would its files land on its
 * own): each under which DST holds files by SRC's names (its size or other
 * files may look different from DST: a file being written, a mount inside
 * SRC), those with most such files first, at most PER_CALL.
 */
function dirsLikeSrc(src: Endpoint, srcList: Listing, srcDirs: string[], dst: Endpoint, dstList: Listing): string[] {
  const names = new Set<string>();
  const tops = new Set<string>();
  for (const f of srcList.files) {
    const rel = relative(src, f.path);
    names.add(rel);
    tops.add(rel.split('/', 1)[0]!);
  }
  const held = new Set(srcDirs);
  const seen = new Map<string, number>();
  for (const g of dstList.files) {
    if (g.partial) continue;
    const at = relative(dst, g.path);
    // Each way of cutting DST's path into a directory and one of SRC's
    // names; most cuts fail at the first segment after them.
    for (let i = at.indexOf('/'); i > 0; i = at.indexOf('/', i + 1)) {
      const end = at.indexOf('/', i + 1);
      if (!tops.has(at.slice(i + 1, end < 0 ? undefined : end))) continue;
      const dir = at.slice(0, i);
      if (held.has(dir) && names.has(at.slice(i + 1))) seen.set(dir, (seen.get(dir) ?? 0) + 1);
    }
  }
  return [...seen].sort((a, b) => b[1] - a[1]).slice(0, PER_CALL).map(([dir]) => dir);
}
