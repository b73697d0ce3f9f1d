// Helpers shared by the benchmarks: temp dirs, random files, timing, output.
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
export function exec(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: env && { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

const PAGE_REPORTING = '/sys/module/page_reporting/parameters/page_reporting_order';

/**
 * On a VM that reports free memory to its host (free page reporting, as
 * Firecracker guests do), memory freed a second or two earlier is handed
 * back, and the next touch of it faults the page in from the host: writing
 * a new 1 GiB file then takes 0.3 s or 3 s depending only on when the
 * previous run freed its memory. For a run, reporting is turned off (an
 * order above the largest one) and restored after, so both tools are
 * measured on memory that behaves like a real machine's. Needs root;
 * REALIZE_BENCH_KEEP_VM=1 leaves it alone. Returns the restore function.
 */
export function quietVmMemory(): () => void {
  let before: string;
  try {
    before = readFileSync(PAGE_REPORTING, 'utf8').trim();
  } catch {
    return () => {};
  }
  if (process.env.REALIZE_BENCH_KEEP_VM === '1') {
    console.log(`(free page reporting to the VM host left on: order ${before}; expect wide swings on fresh writes)`);
    return () => {};
  }
  try {
    writeFileSync(PAGE_REPORTING, '11');
  } catch {
    console.log(`(free page reporting to the VM host is on and cannot be turned off without root: expect wide swings on fresh writes)`);
    return () => {};
  }
  console.log(`(free page reporting to the VM host off for this run, order ${before} restored after; REALIZE_BENCH_KEEP_VM=1 keeps it)`);
  const restore = () => writeFileSync(PAGE_REPORTING, before);
  const interrupted = () => {
    restore();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  return () => {
    process.off('SIGINT', interrupted);
    restore();
  };
}

/**
 * Node 20 parses every certificate of NODE_EXTRA_CA_CERTS (and its own
 * bundle) at start, before any code runs: with the 220 KB Debian bundle
 * that some images set, `node -e 0` takes 48 ms instead of 18 ms here. No
 * realize command uses TLS but an https Pushgateway, and an end reached
 * over ssh never sees the variable; so for a run it is unset, as on a
 * machine that does not set it, and restored after.
 * REALIZE_BENCH_KEEP_ENV=1 keeps it. Returns the restore function.
 */
export function quietNodeStart(): () => void {
  const before = process.env.NODE_EXTRA_CA_CERTS;
  if (before === undefined) return () => {};
  if (process.env.REALIZE_BENCH_KEEP_ENV === '1') {
    console.log(`(NODE_EXTRA_CA_CERTS left set: each local Node start pays ~30 ms parsing ${before})`);
    return () => {};
  }
  delete process.env.NODE_EXTRA_CA_CERTS;
  console.log(`(NODE_EXTRA_CA_CERTS unset for this run, restored after: Node parses ${before} at every start; REALIZE_BENCH_KEEP_ENV=1 keeps it)`);
  return () => {
    process.env.NODE_EXTRA_CA_CERTS = before;
  };
}

/**
 * A freshly made ext4 file system mounted at `mountpoint`, for a run that
 * creates thousands of files: ext4 scans the inodes deleted in the last
 * minutes when it allocates new ones, so a run on a disk that just deleted
 * 20,000 files pays seconds that another did not. Needs root and mkfs.ext4;
 * otherwise the directory is used as it is. Returns the unmount function.
 */
export async function freshExt4(image: string, mountpoint: string, sizeMiB = 1024): Promise<() => Promise<void>> {
  mkdirSync(mountpoint, { recursive: true });
  if (process.getuid?.() !== 0) return async () => {};
  try {
    await exec('truncate', ['-s', `${sizeMiB}M`, image]);
    await exec('mkfs.ext4', ['-q', '-F', image]);
    await exec('mount', ['-o', 'loop', image, mountpoint]);
  } catch {
    return async () => {};
  }
  return async () => {
    await exec('umount', [mountpoint]).catch(() => {});
    rmSync(image, { force: true });
  };
}
