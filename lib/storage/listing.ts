// Lists the regular files of an arena directory. Symbolic links, devices,
// fifos and sockets are skipped and counted, never followed; so are empty
// directories, which are not synced.
import { join } from 'node:path';
import { RealizeError } from '../model/errors.js';
import { finalPathOf, isPartialName, parsePath, type ArenaPath } from '../model/path.js';
import type { FileEntry, Listing, ListOptions } from '../model/service.js';
import { scanDir, type DirEntryInfo } from '../native.js';
import { resolveDirectory } from './resolve.js';

export async function listArena(root: string, opts: ListOptions = {}): Promise<Listing> {
  const listing: Listing = { files: [], skipped: { symlinks: 0, special: 0, emptyDirs: 0 } };
  const start = opts.prefix ? await prefixDir(root, opts.prefix) : root;
  if (start === undefined) return listing;
  await walk(start, opts.prefix ?? '', opts.partials === true, listing);
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
 * all of them at once: the thread pool lists several directories while the
 * JavaScript thread takes in what one returned (the order is the sort's).
 */
async function walk(dir: string, rel: string, partials: boolean, out: Listing): Promise<void> {
  let entries: DirEntryInfo[];
  try {
    entries = await scanDir(dir);
  } catch (err) {
    // A directory removed while listing is simply gone.
    if (err instanceof RealizeError && err.code === 'not_found') return;
    throw err;
  }
  if (entries.length === 0 && rel !== '') out.skipped.emptyDirs++;
  const below: Promise<void>[] = [];
  for (const e of entries) {
    if (e.kind === 'file') {
      const f = entryOf(rel, e, partials);
      if (f) out.files.push(f);
    } else if (e.kind === 'dir') below.push(walk(join(dir, e.name), rel ? `${rel}/${e.name}` : e.name, partials, out));
    else if (e.kind === 'symlink') out.skipped.symlinks++;
    else out.skipped.special++;
  }
  await Promise.all(below);
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
