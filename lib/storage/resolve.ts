// Confinement of arena paths to their directory. A path never resolves
// through a symbolic link: every intermediate directory is checked with
// lstat, the file itself is opened with O_NOFOLLOW, and the native code is
// handed /proc/self/fd/N of that open file, never the path again.
import { constants, promises as fs, type Stats } from 'node:fs';
import { join } from 'node:path';
import { RealizeError, errnoText } from '../model/errors.js';
import { segments, type ArenaPath } from '../model/path.js';

const { O_RDONLY, O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;

// O_NONBLOCK: a fifo swapped in for a file fails the fstat check instead of
// blocking a thread of the pool in open (it changes nothing for regular files).
export const READ = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;
export const WRITE = O_RDWR | O_CREAT | O_NOFOLLOW;

/** Checks the arena's own directory: a missing disk must not look like an empty arena. */
export async function checkArenaRoot(name: string, root: string): Promise<void> {
  let st;
  try {
    st = await fs.stat(root);
  } catch (err) {
    throw new RealizeError('not_found', `arena ${name}: directory ${root} is not available (${errnoText(err)}); is its disk mounted?`);
  }
  if (!st.isDirectory()) throw new RealizeError('not_found', `arena ${name}: ${root} is not a directory`);
}

/** The absolute directory `dirPath` names (every segment a real directory, none a link). */
export async function resolveDirectory(root: string, dirPath: ArenaPath): Promise<string> {
  return resolveDir(root, dirPath, segments(dirPath), false);
}

/**
 * The absolute directory holding `path`, each segment checked with lstat.
 * Callers that touch several names of one directory (a file and its partial
 * form) resolve it once.
 */
export async function resolveParent(root: string, path: ArenaPath, create = false): Promise<string> {
  return resolveDir(root, path, segments(path).slice(0, -1), create);
}

async function resolveDir(root: string, path: ArenaPath, dirs: string[], create: boolean): Promise<string> {
  let dir = root;
  for (const part of dirs) {
    dir = join(dir, part);
    let st;
    try {
      st = await lstatShared(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && create) {
        await fs.mkdir(dir).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        });
        st = await fs.lstat(dir);
      } else throw err;
    }
    if (st.isSymbolicLink()) throw new RealizeError('path', `refusing ${path}: ${part} is a symbolic link`);
    if (!st.isDirectory()) throw new RealizeError('path', `refusing ${path}: ${part} is not a directory`);
  }
  return dir;
}

/**
 * lstat, shared by callers that ask for the same directory while one lstat of
 * it is in flight (several files of one directory arrive together). Nothing
 * is cached past that lstat's completion: every caller's check still happens
 * after it arrived or at most one thread-pool round trip before, the same
 * window as between any lstat and the open that follows it. A longer-lived
 * cache of checked directories would not be safe: a directory swapped for a
 * symbolic link after the check would be followed, since O_NOFOLLOW guards
 * only the last segment of the file's own open.
 */
const lstatsInFlight = new Map<string, Promise<Stats>>();

function lstatShared(dir: string): Promise<Stats> {
  let p = lstatsInFlight.get(dir);
  if (!p) {
    const mine: Promise<Stats> = fs.lstat(dir).finally(() => {
      if (lstatsInFlight.get(dir) === mine) lstatsInFlight.delete(dir);
    });
    lstatsInFlight.set(dir, (p = mine));
  }
  return p;
}

/** An open regular file of an arena and what fstat said of it when opened. */
export interface OpenFile {
  fh: fs.FileHandle;
  stat: Stats;
}

/**
 * Opens `abs`, a name in a directory already resolved, with O_NOFOLLOW and
 * refuses anything but a regular file (fstat).
 */
export async function openChecked(abs: string, path: ArenaPath, flags: number): Promise<OpenFile> {
  let fh;
  try {
    fh = await fs.open(abs, flags | O_NOFOLLOW, 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new RealizeError('path', `refusing ${path}: it is a symbolic link`);
    throw err;
  }
  try {
    const stat = await fh.stat();
    if (!stat.isFile()) throw new RealizeError('path', `refusing ${path}: not a regular file`);
    return { fh, stat };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Creates `abs` with O_CREAT | O_EXCL: a new regular file (O_EXCL never
 * follows a link, so it needs no fstat); undefined if the name exists.
 */
export async function createExclusive(abs: string): Promise<fs.FileHandle | undefined> {
  try {
    return await fs.open(abs, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw err;
  }
}

/** A name the native code can open that is exactly this open file. */
export function fdPath(fh: fs.FileHandle): string {
  return `/proc/self/fd/${fh.fd}`;
}
