// Bytes on the wire to bring a 256 MiB file level, against rsync.
//
// Workload: a 256 MiB random file; the new version has a 64 KiB insertion
// near the start (so everything after it shifts) and 100 scattered 26 KiB
// overwrites. Our side does what the sync does: exchange 1 MiB block hash
// lists, then, 8 MiB range by range, only where blocks differ: the holder of
// the old bytes sends a signature of the range widened by MARGIN on each
// side, the holder of the new bytes answers with a delta. Wire bytes = both
// hash lists (32 bytes a block) + signatures + deltas. rsync's figure is
// "Total bytes sent" + "Total bytes received" of `rsync --no-whole-file
// --stats` between two local directories, the basis in the destination.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOCK_SIZE, applyDeltaTo, diff, hashFile, signature } from '../lib/native.js';
import { exec, mb, seeded, withTempDir } from './util.js';

const MIB = 1 << 20;
const SIZE = 256 * MIB;
const EDITS = 100;
const EDIT = 26 * 1024;
const INSERT = 64 * 1024;
const INSERT_AT = 300_000;
const RANGE = 8 * MIB;
const MARGIN = 256 * 1024;

/** The old and new versions of the file. */
export function workload(): { base: Buffer; next: Buffer } {
  const base = randomBytes(SIZE);
  const next = Buffer.concat([base.subarray(0, INSERT_AT), randomBytes(INSERT), base.subarray(INSERT_AT)]);
  const rand = seeded(2);
  for (let i = 0; i < EDITS; i++) {
    const at = Math.floor(rand() * (next.length - EDIT));
    randomBytes(EDIT).copy(next, at);
  }
  return { base, next };
}

interface Wire {
  lists: number;
  signatures: number;
  deltas: number;
  rangesRolled: number;
}

/** Brings `basePath` level with `newPath` into `outPath`, counting the bytes that would cross the wire. */
async function ours(basePath: string, newPath: string, outPath: string): Promise<Wire> {
  const [oldHash, newHash] = await Promise.all([hashFile(basePath), hashFile(newPath)]);
  const wire: Wire = { lists: 32 * (oldHash.blocks.length + newHash.blocks.length), signatures: 0, deltas: 0, rangesRolled: 0 };
  const base = await open(basePath, 'r');
  const out = await open(outPath, 'w');
  try {
    const perRange = RANGE / BLOCK_SIZE;
    for (let off = 0; off < newHash.size; off += RANGE) {
      const first = off / BLOCK_SIZE;
      const len = Math.min(RANGE, newHash.size - off);
      let same = off + len <= oldHash.size;
      for (let b = first; same && b < first + perRange && b < newHash.blocks.length; b++) {
        same = newHash.blocks[b] === oldHash.blocks[b];
      }
      if (same) {
        const bytes = Buffer.alloc(len);
        await base.read(bytes, 0, len, off);
        await out.write(bytes, 0, len, off);
      } else {
        const from = Math.max(0, off - MARGIN);
        const sig = await signature(basePath, from, off + len + MARGIN - from);
        const delta = await diff(newPath, off, len, sig);
        await applyDeltaTo(basePath, delta, RANGE, { firstBlock: first, fileSize: newHash.size, blocks: newHash.blocks.slice(first, first + perRange) }, out.fd, off);
        wire.signatures += sig.length;
        wire.deltas += delta.length;
        wire.rangesRolled++;
      }
    }
  } finally {
    await base.close();
    await out.close();
  }
  const got = await hashFile(outPath);
  if (got.root !== newHash.root) throw new Error('delta: our reconstruction differs from the new file');
  return wire;
}

/** rsync's total bytes for the same update. */
async function rsync(dir: string, newPath: string, basePath: string): Promise<number> {
  const src = join(dir, 'rsync-src');
  const dst = join(dir, 'rsync-dst');
  await mkdir(src);
  await mkdir(dst);
  await writeFile(join(src, 'file'), await readFile(newPath));
  await writeFile(join(dst, 'file'), await readFile(basePath));
  const stats = await exec('rsync', ['--no-whole-file', '--ignore-times', '--stats', join(src, 'file'), dst + '/']);
  const total = (label: string) => {
    const m = new RegExp(`${label}: ([\\d,.]+)`).exec(stats);
    if (!m) throw new Error(`delta: no "${label}" in rsync's --stats`);
    return Number(m[1]!.replace(/[,.]/g, ''));
  };
  const [a, b] = await Promise.all([hashFile(join(dst, 'file')), hashFile(newPath)]);
  if (a.root !== b.root) throw new Error('delta: rsync did not reproduce the new file');
  return total('Total bytes sent') + total('Total bytes received');
}

export async function run(): Promise<void> {
  await withTempDir('delta', async (dir) => {
    const basePath = join(dir, 'old');
    const newPath = join(dir, 'new');
    {
      const { base, next } = workload();
      await writeFile(basePath, base);
      await writeFile(newPath, next);
    }
    const w = await ours(basePath, newPath, join(dir, 'rebuilt'));
    const realize = w.lists + w.signatures + w.deltas;
    const theirs = await rsync(dir, newPath, basePath);
    console.log(
      `delta 256 MiB (${EDITS} x 26 KiB edits, 64 KiB insertion): realize ${mb(realize)} ` +
        `(hash lists ${mb(w.lists)}, signatures ${mb(w.signatures)}, deltas ${mb(w.deltas)}, ` +
        `${w.rangesRolled} ranges rolled), rsync ${mb(theirs)}, ratio ${(realize / theirs).toFixed(2)}x (target <= 1.1)`,
    );
  });
}
