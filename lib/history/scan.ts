// Lists the regular files of a tree with their size and mtime, for the
// recorder's startup scan and rescans. Symlinks (never followed), devices,
// fifos, sockets and partial files are skipped and counted.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isPartialName, isValidPath } from '../model/path.js';

export interface ScannedFile {
  size: number;
  /** Milliseconds since the epoch, as `fs.Stats.mtimeMs`. */
  mtime: number;
}

export interface ScanResult {
  files: Map<string, ScannedFile>;
  /** Entries that are not regular files or directories (symlinks, devices...), and partial files. */
  skipped: number;
  /** One line per directory or file that could not be read. */
  errors: string[];
}

const WORKERS = 8;
const STAT_CHUNK = 64;

export async function scanTree(root: string): Promise<ScanResult> {
  const result: ScanResult = { files: new Map(), skipped: 0, errors: [] };
  const dirs: string[] = [''];
  let active = 0;
  await new Promise<void>((resolve) => {
    const next = (): void => {
      while (active < WORKERS && dirs.length > 0) {
        const dir = dirs.pop()!;
        active++;
        scanDir(root, dir, dirs, result)
          .catch((err: NodeJS.ErrnoException) => {
            if (err.code !== 'ENOENT') result.errors.push(`cannot read ${join(root, dir)}: ${err.code ?? err.message}`);
          })
          .finally(() => {
            active--;
            next();
          });
      }
      if (active === 0 && dirs.length === 0) resolve();
    };
    next();
  });
  return result;
}

async function scanDir(root: string, dir: string, dirs: string[], result: ScanResult): Promise<void> {
  const entries = await readdir(dir === '' ? root : join(root, dir), { withFileTypes: true });
  const files: string[] = [];
  for (const e of entries) {
    const path = dir === '' ? e.name : `${dir}/${e.name}`;
    if (e.isDirectory()) dirs.push(path);
    else if (!e.isFile() || isPartialName(e.name)) result.skipped++;
    else if (!isValidPath(path)) result.errors.push(`skipping ${JSON.stringify(path)}: not a valid arena path`);
    else files.push(path);
  }
  for (let i = 0; i < files.length; i += STAT_CHUNK) {
    await Promise.all(
      files.slice(i, i + STAT_CHUNK).map(async (path) => {
        try {
          const st = await lstat(join(root, path));
          if (st.isFile()) result.files.set(path, { size: st.size, mtime: st.mtimeMs });
          else result.skipped++;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT') result.errors.push(`cannot stat ${join(root, path)}: ${code}`);
        }
      }),
    );
  }
}
