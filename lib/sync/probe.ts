// One tree reached two ways that no comparison of names, devices or inodes
// made here can see: a far end's disk mounted on this machine (NFS, SMB,
// sshfs) and synced with that far end, two names of one directory on
// another machine, one end inside the other. Moving a directory onto itself
// deletes every file it holds, and files written where one end is inside
// the other land on SRC's own. So, before anything is written, each end
// makes an empty file of a random name at its top and the other looks for
// it: at its own top (one directory) and in every directory that holds
// SRC's files (one inside the other). Probes are named like partial files,
// which no listing or history shows, and removed at once.
import { randomBytes } from 'node:crypto';
import { RealizeError, toRealizeError } from '../model/errors.js';
import { joinPath, segments } from '../model/path.js';
import type { FileIdentity, Listing } from '../model/service.js';
import type { Endpoint } from './connect.js';

/** BLAKE3 of no bytes (what `b3sum /dev/null` prints): a probe is empty. */
const EMPTY_ROOT = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';
/** Paths looked up in one call: a request well within a frame. */
const LOOKUPS_PER_CALL = 1000;

/**
 * Refuses SRC and DST that are one tree seen twice (RealizeError 'usage'),
 * touching nothing but the probes. `listing` is SRC's. A DST that cannot
 * take an empty file is refused too: a move would still delete sources
 * whose content DST holds, and DST then might be SRC itself, read-only.
 * SRC may be read-only (a copy): then only SRC inside DST goes unseen here
 * (see plan's per-file check in run.ts).
 */
export async function refuseOneTree(src: Endpoint, dst: Endpoint, listing: Listing): Promise<void> {
  const dirs = directoriesOf(src, listing);
  const [dstProbe, srcProbe] = [probeName(), probeName()];
  const made: Endpoint[] = [];
  try {
    const [dstMade, srcMade] = await Promise.all([place(dst, dstProbe), place(src, srcProbe)]);
    if (dstMade instanceof RealizeError) throw new RealizeError(dstMade.code, `cannot write to ${dst.spec.text} (${dstMade.message}); nothing done`);
    made.push(dst);
    if (!(srcMade instanceof RealizeError)) made.push(src);
    const [dstInSrc, srcInDst] = await Promise.all([findIn(src, dstProbe, dirs), srcMade instanceof RealizeError ? undefined : findIn(dst, srcProbe, dirs)]);
    const [s, d] = [src.spec.text, dst.spec.text];
    if (dstInSrc === '' || srcInDst === '') throw new RealizeError('usage', `${s} and ${d} are the same directory (a file made in one appeared in the other); nothing done`);
    if (dstInSrc !== undefined) throw new RealizeError('usage', `${d} is inside ${s}, as its ${dstInSrc}/ (a file made in one appeared there); nothing done`);
    if (srcInDst !== undefined) throw new RealizeError('usage', `${s} is inside ${d}, as its ${srcInDst}/, and holds ${srcInDst}/: its files would land on its own; nothing done`);
  } finally {
    await Promise.all(made.map((e) => e.files.delete(e.arena, joinPath(e.prefix, e === dst ? dstProbe : srcProbe)).catch(() => false)));
  }
}

function probeName(): string {
  return `.realize-probe-${randomBytes(16).toString('hex')}.part`;
}

/** The empty file `name` at the top of `e`, or why not. */
async function place(e: Endpoint, name: string): Promise<FileIdentity | RealizeError> {
  const path = joinPath(e.prefix, name);
  const put = e.files.putMany(e.arena, [{ path, data: Buffer.alloc(0), mtime: Date.now(), root: EMPTY_ROOT }]);
  return put.then(([r]) => r!, toRealizeError);
}

/** Every directory holding SRC's files, and each of their parents, relative to SRC's top: '' first. */
function directoriesOf(src: Endpoint, listing: Listing): string[] {
  const dirs = new Set<string>(['']);
  const skip = src.prefix ? segments(src.prefix).length : 0;
  for (const f of listing.files) {
    const parts = segments(f.path).slice(skip, -1);
    for (let n = parts.length; n > 0; n--) {
      const dir = parts.slice(0, n).join('/');
      if (dirs.has(dir)) break;
      dirs.add(dir);
    }
  }
  return [...dirs];
}

/** The first of `dirs` (relative to `e`'s top) that holds the file `name`, if any. */
async function findIn(e: Endpoint, name: string, dirs: string[]): Promise<string | undefined> {
  const calls: Promise<string | undefined>[] = [];
  for (let i = 0; i < dirs.length; i += LOOKUPS_PER_CALL) {
    const some = dirs.slice(i, i + LOOKUPS_PER_CALL);
    const paths = some.map((d) => joinPath(e.prefix, d ? `${d}/${name}` : name));
    calls.push(e.files.fetchMany(e.arena, paths, 0).then((found) => some[found.findIndex((f) => !(f instanceof RealizeError))]));
  }
  return (await Promise.all(calls)).find((d) => d !== undefined);
}
