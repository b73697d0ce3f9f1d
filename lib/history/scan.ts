// Lists the regular files of a tree with their size and mtime, for the
// recorder's startup scan and rescans. Symlinks (never followed), devices,
// fifos, sockets and partial files are skipped and counted.
import { join } from 'node:path';
import { RealizeError } from '../model/errors.js';
import { isPartialName, isValidPath } from '../model/path.js';
import { scanDir } from '../native.js';

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

/** Directories listed at once (each one native call). */
const WORKERS = 8;

export async function scanTree(root: string): Promise<ScanResult> {
  const result: ScanResult = { files: new Map(), skipped: 0, errors: [] };
  const dirs: string[] = [''];
  let active = 0;
  await new Promise<void>((resolve) => {
    const next = (): void => {
      while (active < WORKERS && dirs.length > 0) {
        const dir = dirs.pop()!;
        active++;
        scanOne(root, dir, dirs, result)
          .catch((err: unknown) => {
            if (!(err instanceof RealizeError && err.code === 'not_found')) result.errors.push(err instanceof Error ? err.message : String(err));
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

async function scanOne(root: string, dir: string, dirs: string[], result: ScanResult): Promise<void> {
  for (const e of await scanDir(dir === '' ? root : join(root, dir))) {
    const path = dir === '' ? e.name : `${dir}/${e.name}`;
    if (e.kind === 'file') {
      if (isPartialName(e.name)) result.skipped++;
      else if (!isValidPath(path)) result.errors.push(`skipping ${JSON.stringify(path)}: not a valid arena path`);
      else result.files.set(path, { size: e.size, mtime: e.mtime });
    } else if (e.kind === 'dir') dirs.push(path);
    else result.skipped++;
  }
}
