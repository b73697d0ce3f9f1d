// Lists the regular files of an arena directory. Symbolic links, devices,
// fifos and sockets are skipped and counted, never followed; so are empty
// directories, which are not synced.
import { promises as fs, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { finalPathOf, isPartialName, parsePath, type ArenaPath } from '../model/path.js';
import type { FileEntry, Listing, ListOptions } from '../model/service.js';
import { resolveDirectory } from './resolve.js';

const STAT_BATCH = 64;

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

async function walk(dir: string, rel: string, partials: boolean, out: Listing): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    // A directory removed while listing is simply gone.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (entries.length === 0 && rel !== '') out.skipped.emptyDirs++;
  const files: Dirent[] = [];
  for (const e of entries) {
    if (e.isDirectory()) await walk(join(dir, e.name), rel ? `${rel}/${e.name}` : e.name, partials, out);
    else if (e.isFile()) files.push(e);
    else if (e.isSymbolicLink()) out.skipped.symlinks++;
    else out.skipped.special++;
  }
  for (let i = 0; i < files.length; i += STAT_BATCH) {
    const batch = files.slice(i, i + STAT_BATCH);
    const found = await Promise.all(batch.map((e) => entryOf(dir, rel, e.name, partials)));
    for (const f of found) if (f) out.files.push(f);
  }
}

async function entryOf(dir: string, rel: string, name: string, partials: boolean): Promise<FileEntry | undefined> {
  const partial = isPartialName(name);
  if (partial && !partials) return undefined;
  let path: ArenaPath;
  try {
    path = parsePath(rel ? `${rel}/${name}` : name);
  } catch {
    return undefined; // not representable as an arena path
  }
  const st = await fs.lstat(join(dir, name)).catch(() => undefined);
  if (!st || !st.isFile()) return undefined;
  return { path: partial ? finalPathOf(path) : path, size: st.size, mtime: st.mtimeMs, ino: st.ino, partial };
}
