// Real files for sync tests, and b3sum as the oracle of their content.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync, lstatSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Writes files: path → size (random content) or string content. */
export function makeTree(root: string, files: Record<string, number | string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), typeof content === 'number' ? randomBytes(content) : content);
  }
}

/** Regular files under root (relative paths), sorted. */
export function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}

/** b3sum of every regular file under root: relative path → hex. */
export function b3sums(root: string): Map<string, string> {
  const files = listFiles(root);
  const sums = new Map<string, string>();
  for (const f of files) sums.set(f, b3sum(join(root, f)));
  return sums;
}

export function b3sum(file: string): string {
  return execFileSync('b3sum', ['--no-names', file], { encoding: 'utf8' }).trim();
}

export function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
