// Issue 4's benchmark: realize-sync beside `rsync -a -e ssh` through the same
// OpenSSH sshd, in one run: a fresh 1 GiB file, the delta workload of the
// foundation issue (wire bytes and time), 10,000 files of 1–8 KiB, and peak
// RSS while moving a 10 GiB sparse file.
import { mkdirSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSshd, type Sshd } from '../tests/helpers/sshd.js';
import { BIN_DIR } from '../tests/helpers/run.js';
import { workload } from './delta.js';
import { exec, seeded, withTempDir, writeRandomFile } from './util.js';

const GIB = 1 << 30;

function remoteServe(timeFile?: string): string {
  const serve = `${process.execPath} ${BIN_DIR}realize-serve.js`;
  return timeFile ? `/usr/bin/time -f %M -o ${timeFile} ${serve}` : serve;
}

interface Timed {
  seconds: number;
  out: string;
}

async function timed(cmd: string, args: string[]): Promise<Timed> {
  const t = process.hrtime.bigint();
  const out = await exec(cmd, args);
  return { seconds: Number(process.hrtime.bigint() - t) / 1e9, out };
}

async function realize(sshd: Sshd, src: string, dst: string, extra: string[] = [], timeFile?: string): Promise<Timed & { wire: number }> {
  const r = await timed(process.execPath, [BIN_DIR + 'realize-sync.js', '--json', '--copy', '-e', sshd.rsh, '--remote-serve', remoteServe(timeFile), ...extra, src, `${sshd.userHost}:${dst}`]);
  const summary = JSON.parse(r.out.trim().split('\n').pop()!) as { wire_bytes_sent: number; wire_bytes_received: number; files_failed: number };
  if (summary.files_failed > 0) throw new Error('realize-sync failed: ' + r.out.slice(-500));
  return { ...r, wire: summary.wire_bytes_sent + summary.wire_bytes_received };
}

async function rsync(sshd: Sshd, src: string, dst: string): Promise<Timed & { wire: number }> {
  const r = await timed('rsync', ['-a', '--stats', '-e', sshd.rsh, src + '/', `${sshd.userHost}:${dst}/`]);
  const sent = Number(/Total bytes sent: ([\d,]+)/.exec(r.out)?.[1]?.replace(/,/g, '') ?? NaN);
  const received = Number(/Total bytes received: ([\d,]+)/.exec(r.out)?.[1]?.replace(/,/g, '') ?? NaN);
  return { ...r, wire: sent + received };
}

function line(name: string, ours: number, theirs: number, unit: string, better: 'lower' | 'higher', target: string): void {
  const ratio = ours / theirs;
  console.log(`  ${name}: realize ${ours.toFixed(2)} ${unit}, rsync ${theirs.toFixed(2)} ${unit}, ratio ${ratio.toFixed(2)}x (${better} is better; target ${target})`);
}

export async function run(): Promise<void> {
  await withTempDir('sync', async (dir) => {
    mkdirSync(join(dir, 'sshd'));
    const sshd = await startSshd(join(dir, 'sshd'));
    try {
      console.log('realize-sync vs rsync -a -e ssh (same sshd, aes128-gcm):');
      // 1. A fresh 1 GiB file.
      const fresh = join(dir, 'fresh');
      mkdirSync(fresh);
      await writeRandomFile(join(fresh, 'big.bin'), GIB);
      const ours = await realize(sshd, fresh, join(dir, 'fresh-r'));
      const theirs = await rsync(sshd, fresh, join(dir, 'fresh-s'));
      line('fresh 1 GiB time', ours.seconds, theirs.seconds, 's', 'lower', '<= 1.0, goal 0.67');
      rmSync(join(dir, 'fresh-r'), { recursive: true });
      rmSync(join(dir, 'fresh-s'), { recursive: true });
      rmSync(fresh, { recursive: true });

      // 2. The delta workload: 256 MiB, a 64 KiB insertion near the start, 100 scattered 26 KiB edits.
      const { base, next } = workload();
      const src = join(dir, 'delta-src');
      mkdirSync(src);
      writeFileSync(join(src, 'f.bin'), next);
      const old = 1_000_000;
      for (const d of ['delta-r', 'delta-s']) {
        mkdirSync(join(dir, d));
        writeFileSync(join(dir, d, 'f.bin'), base);
        utimesSync(join(dir, d, 'f.bin'), old, old);
      }
      const dOurs = await realize(sshd, src, join(dir, 'delta-r'));
      const dTheirs = await rsync(sshd, src, join(dir, 'delta-s'));
      if (!readFileSync(join(dir, 'delta-r', 'f.bin')).equals(next)) throw new Error('delta result differs');
      line('delta 256 MiB wire', dOurs.wire / 1e6, dTheirs.wire / 1e6, 'MB', 'lower', '<= 1.1');
      line('delta 256 MiB time', dOurs.seconds, dTheirs.seconds, 's', 'lower', '<= 0.7');
      rmSync(src, { recursive: true });

      // 3. 10,000 files of 1–8 KiB.
      const many = join(dir, 'many');
      const rand = seeded(3);
      for (let i = 0; i < 10_000; i++) {
        const d = join(many, `d${i % 100}`);
        if (i < 100) mkdirSync(d, { recursive: true });
        writeFileSync(join(d, `f${i}`), Buffer.alloc(1024 + Math.floor(rand() * 7 * 1024), i & 0xff));
      }
      const mOurs = await realize(sshd, many, join(dir, 'many-r'), ['--parallel', '16']);
      const mTheirs = await rsync(sshd, many, join(dir, 'many-s'));
      line('10,000 small files time', mOurs.seconds, mTheirs.seconds, 's', 'lower', '<= 1.0');
      rmSync(join(dir, 'many-r'), { recursive: true });
      rmSync(join(dir, 'many-s'), { recursive: true });

      // 4. Peak RSS moving a 10 GiB sparse file (client and the far realize-serve).
      const sparse = join(dir, 'sparse');
      mkdirSync(sparse);
      writeFileSync(join(sparse, 'disk.img'), '');
      truncateSync(join(sparse, 'disk.img'), 10 * GIB);
      const clientTime = join(dir, 'client.rss');
      const serverTime = join(dir, 'server.rss');
      await exec('/usr/bin/time', ['-f', '%M', '-o', clientTime, process.execPath, BIN_DIR + 'realize-sync.js', '-q', '-e', sshd.rsh, '--remote-serve', remoteServe(serverTime), sparse, `${sshd.userHost}:${join(dir, 'sparse-r')}`]);
      const mb = (f: string) => Number(readFileSync(f, 'utf8').trim().split('\n').pop()) / 1024;
      console.log(`  peak RSS moving a 10 GiB sparse file: realize-sync ${mb(clientTime).toFixed(0)} MB, realize-serve ${mb(serverTime).toFixed(0)} MB (target < 300 MB)`);
    } finally {
      sshd.stop();
    }
  });
}

