// Helpers shared by the benchmarks: temp dirs, random files, timing, output.
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Runs `f` with a fresh directory under os.tmpdir(), removed afterwards whatever happens. */
export async function withTempDir<T>(tag: string, f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `realize-bench-${tag}-`));
  try {
    return await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes `size` random bytes to `path`, 16 MiB at a time, and syncs it. */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    const chunk = Buffer.allocUnsafe(16 << 20);
    for (let done = 0; done < size; ) {
      const n = Math.min(chunk.length, size - done);
      randomFillSync(chunk, 0, n);
      await fh.write(chunk, 0, n);
      done += n;
    }
    // Flush now, so write-back does not compete with what is measured next.
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Reads a file once so that timings measure hashing, not the disk. */
export async function warm(path: string): Promise<void> {
  for await (const _ of createReadStream(path, { highWaterMark: 4 << 20 })) {
    // discard
  }
}

/** Best wall time of `runs` calls of `f`, in seconds. */
export async function bestOf(runs: number, f: () => Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await f();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
  }
  return best;
}

/** Runs a program to completion; rejects with its stderr if it fails. */
export function exec(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}: ${err.trim()}`)),
    );
  });
}

export { seeded } from '../tests/helpers/random.js';

/** Bytes as "3.51 MB" (decimal, as rsync counts). */
export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}
