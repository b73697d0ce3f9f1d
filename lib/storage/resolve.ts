// Confinement of arena paths to their directory. A path never resolves
// through a symbolic link: every intermediate directory is checked with
// lstat, the file itself is opened with O_NOFOLLOW, and the native code is
// handed /proc/self/fd/N of that open file, never the path again.
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { RealizeError, toRealizeError } from '../model/errors.js';
import { segments, type ArenaPath } from '../model/path.js';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_NOFOLLOW, O_DIRECTORY } = constants;

export const READ = O_RDONLY | O_NOFOLLOW;
export const WRITE = O_RDWR | O_CREAT | O_NOFOLLOW;
export const WRITE_ONLY = O_WRONLY | O_NOFOLLOW;

/** Checks the arena's own directory: a missing disk must not look like an empty arena. */
export async function checkArenaRoot(name: string, root: string): Promise<void> {
  let st;
  try {
    st = await fs.stat(root);
  } catch (err) {
    const e = toRealizeError(err);
    throw new RealizeError('not_found', `arena ${name}: directory ${root} is not available (${e.message.replace(/^I\/O error: /, '')}); is its disk mounted?`);
  }
  if (!st.isDirectory()) throw new RealizeError('not_found', `arena ${name}: ${root} is not a directory`);
}

/**
 * Walks the directories of `path` below `root` without following links and
 * returns the absolute path of the last segment. With `create`, missing
 * directories are made.
 */
export async function resolveInArena(root: string, path: ArenaPath, create = false): Promise<string> {
  const parts = segments(path);
  let dir = root;
  for (const part of parts.slice(0, -1)) {
    dir = join(dir, part);
    let st;
    try {
      st = await fs.lstat(dir);
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
  return join(dir, parts[parts.length - 1]!);
}

/** Opens a file of the arena; the last segment must not be a link (O_NOFOLLOW → ELOOP). */
export async function openInArena(root: string, path: ArenaPath, flags: number, create = false): Promise<fs.FileHandle> {
  const abs = await resolveInArena(root, path, create);
  try {
    const fh = await fs.open(abs, flags, 0o644);
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new RealizeError('path', `refusing ${path}: not a regular file`);
    }
    return fh;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new RealizeError('path', `refusing ${path}: it is a symbolic link`);
    throw err;
  }
}

/** A name the native code can open that is exactly this open file. */
export function fdPath(fh: fs.FileHandle): string {
  return `/proc/self/fd/${fh.fd}`;
}

/** Makes a rename or unlink in `dir` durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, O_RDONLY | O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
