// Lists the regular files of an arena directory. Symbolic links, devices,
// fifos and sockets are skipped and counted, never followed; so are empty
// directories, which are not synced.
import { join } from 'node:path';
import { RealizeError } from '../model/errors.js';
import { Limit } from '../model/limit.js';
import { finalPathOf, isPartialName, isProbeName, parsePath, type ArenaPath } from '../model/path.js';
import type { FileEntry, Listing, ListOptions } from '../model/service.js';
import { scanDir, type DirEntryInfo } from '../native.js';
import { resolveDirectory } from './resolve.js';

/** Directories listed at once: enough to keep the thread pool busy, not so many that other work waits behind a wide tree. */
const SCANS_IN_FLIGHT = 8;

export async function listArena(root: string, opts: ListOptions = {}): Promise<Listing> {
  const listing: Listing = { files: [], skipped: { symlinks: 0, special: 0, emptyDirs: 0, partials: 0 } };
  const start = opts.prefix ? await prefixDir(root, opts.prefix) : root;
  if (start === undefined) return listing;
  await walk(start, opts.prefix ?? '', opts.partials === true, listing, new Limit(SCANS_IN_FLIGHT));
  listing.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : Number(a.partial) - Number(b.partial)));
  return listing;
}

/** The directory a prefix names, checked segment by segment; undefined if it does not exist. */
async function prefixDir(root: string, prefix: ArenaPath): Promise<string | undefined> {
  try {
    return await resolveDirectory(root, prefix);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Lists `dir` (one native call per directory) and the directories under it,
 * several at once: the thread pool lists some while the JavaScript thread
 * takes in what one returned (the order is the sort's). Of several errors,
 * the first subdirectory's is reported, once all have settled.
 */
async function walk(dir: string, rel: string, partials: boolean, out: Listing, scans: Limit): Promise<void> {
  let entries: DirEntryInfo[];
  try {
    entries = await scans.run(() => scanDir(dir));
  } catch (err) {
    // A directory removed while listing is simply gone.
    if (err instanceof RealizeError && err.code === 'not_found') return;
    throw err;
  }
  if (entries.length === 0 && rel !== '') out.skipped.emptyDirs++;
  const below: Promise<void>[] = [];
  for (const e of entries) {
    if (e.kind === 'file') {
      if (isProbeName(e.name)) continue;
      const f = entryOf(rel, e, partials);
      if (f) out.files.push(f);
      else if (!partials && isPartialName(e.name)) out.skipped.partials = (out.skipped.partials ?? 0) + 1;
    } else if (e.kind === 'dir') below.push(walk(join(dir, e.name), rel ? `${rel}/${e.name}` : e.name, partials, out, scans));
    else if (e.kind === 'symlink') out.skipped.symlinks++;
    else out.skipped.special++;
  }
  const failed = (await Promise.allSettled(below)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function entryOf(rel: string, e: DirEntryInfo & { kind: 'file' }, partials: boolean): FileEntry | undefined {
  const partial = isPartialName(e.name);
  if (partial && !partials) return undefined;
  let path: ArenaPath;
  try {
    path = parsePath(rel ? `${rel}/${e.name}` : e.name);
  } catch {
    return undefined; // not representable as an arena path
  }
  return { path: partial ? finalPathOf(path) : path, size: e.size, mtime: e.mtime, ino: e.ino, partial };
}
