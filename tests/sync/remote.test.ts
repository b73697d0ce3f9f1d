// realize-sync across the network: a configured peer over ssh2 (pinned keys)
// and HOST:PATH over a real OpenSSH sshd; interruptions and resumption.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync as spawnSyncProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { BIN_DIR } from '../helpers/run.js';
import { startHousehold, type Household } from '../helpers/household.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { spawnSync, syncJson, until } from '../helpers/sync.js';
import { b3sum, b3sums, exists, listFiles, makeTree } from '../helpers/tree.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();
let h: Household;
let sshd: Sshd;
const remoteServe = `${process.execPath} ${BIN_DIR}realize-serve.js`;
const MIB = 1 << 20;

/** New, empty SRC and DST directories named after a test. */
function srcAndDst(name: string): [string, string] {
  const both: [string, string] = [join(dir, `${name}-src`), join(dir, `${name}-dst`)];
  both.forEach((d) => mkdirSync(d));
  return both;
}

before(async () => {
  mkdirSync(join(dir, 'household'));
  mkdirSync(join(dir, 'sshd'));
  h = await startHousehold(join(dir, 'household'), { arenas: ['photos'] });
  sshd = await startSshd(join(dir, 'sshd'));
});

after(async () => {
  await h?.stop();
  sshd?.stop();
});

test('push to a configured peer, then pull back, over ssh2 with pinned keys', async () => {
  const src = join(dir, 'push-src');
  makeTree(src, { 'a.jpg': 2 * 1024 * 1024 + 3, 'trip/b.jpg': 100_000, 'trip/c d:e ü.jpg': 'tiny' });
  const before = b3sums(src);
  let r = await syncJson(['--config', h.laptopConfig, src, 'nas:photos/2026']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(b3sums(join(h.arenas.photos!, '2026')), before);
  assert.deepEqual(listFiles(src), []);
  assert.ok((r.summary!.wire_bytes_sent as number) > 2 * 1024 * 1024);
  assert.match(h.serveLog(), /final photos\/2026\/a\.jpg 2\.0M BLAKE3 [0-9a-f]{64} by laptop/);

  const back = join(dir, 'pull-dst');
  r = await syncJson(['--config', h.laptopConfig, '--copy', 'nas:photos/2026', back]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(b3sums(back), before);
  assert.ok((r.summary!.wire_bytes_received as number) > 2 * 1024 * 1024);
});

test('move over ssh (HOST:PATH through OpenSSH, realize-serve --stdio at the far end)', async () => {
  const src = join(dir, 'ssh-src');
  makeTree(src, { 'one.bin': 9 * 1024 * 1024 + 1, 'two/three.txt': 'three' });
  const before = b3sums(src);
  const dst = join(dir, 'ssh-dst');
  const r = await syncJson(['-e', sshd.rsh, '--remote-serve', remoteServe, src, `${sshd.userHost}:${dst}`]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(b3sums(dst), before);
  assert.deepEqual(listFiles(src), []);
  // And back, as a pull.
  const r2 = await syncJson(['-e', sshd.rsh, '--remote-serve', remoteServe, `${sshd.userHost}:${dst}`, src]);
  assert.equal(r2.status, 0, r2.stderr);
  assert.deepEqual(b3sums(src), before);
  assert.deepEqual(listFiles(dst), []);
});

test('one directory named twice by remote ends (a peer arena, a path on one host), or DST inside SRC: refused, nothing touched', async () => {
  const arena = join(h.arenas.photos!, 'twice');
  makeTree(arena, { 'p.txt': 'photo', 'sub/q.txt': 'q' });
  const before = b3sums(arena);
  const ssh = ['-e', sshd.rsh, '--remote-serve', remoteServe];
  const cases: [string[], RegExp][] = [
    [['nas:photos/twice', 'nas:photos/twice/'], /are the same directory; nothing done/],
    [['nas:photos', 'nas:photos/twice/sub'], /is inside nas:photos; nothing done/],
    [[...ssh, `${sshd.userHost}:${arena}`, `${sshd.userHost}:${arena}/./`], /are the same directory; nothing done/],
    [[...ssh, `${sshd.userHost}:${arena}`, `${sshd.userHost}:${arena}/sub`], /is inside/],
  ];
  for (const [args, said] of cases) {
    const r = await syncJson(['--config', h.laptopConfig, ...args]);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, said);
    assert.deepEqual(b3sums(arena), before);
  }
});

test('one directory reached two ways (a local path, a peer arena, HOST:PATH of this very machine): refused before anything is written, no probe left', async () => {
  const src = join(h.arenas.photos!, 'two-ways');
  makeTree(src, { 'a.bin': 3 * MIB, 'b.txt': 'b', 'c/d.txt': 'd' });
  const before = b3sums(src);
  const ssh = ['-e', sshd.rsh, '--remote-serve', remoteServe];
  for (const ends of [[src, `${sshd.userHost}:${src}`], ['nas:photos/two-ways', `${sshd.userHost}:${src}`], ['nas:photos/two-ways', src], [`${sshd.userHost}:${src}`, src]]) {
    for (const copy of [[], ['--copy']]) {
      const r = await syncJson(['--config', h.laptopConfig, ...ssh, ...copy, ...ends]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /are the same directory \(a file made in one appeared in the other\); nothing done/, ends.join(' '));
      // b3sums lists dot files too: no probe is left behind.
      assert.deepEqual(b3sums(src), before);
    }
  }
});

test("a far end's disk mounted here (its realize-serve on a machine of another name) and moved onto that far end: refused, nothing deleted", { skip: process.getuid?.() !== 0 && 'needs root for a UTS namespace' }, async () => {
  const disk = join(dir, 'far-disk');
  makeTree(disk, { 'x.jpg': 2 * MIB, 'y/z.jpg': 'z' });
  const before = b3sums(disk);
  // The far end names itself "nas": no host name is shared to go by.
  const far = join(dir, 'far-serve.sh');
  writeFileSync(far, `#!/bin/sh\nhostname nas-far-end\nexec ${remoteServe} "$@"\n`, { mode: 0o755 });
  for (const ends of [[disk, `${sshd.userHost}:${disk}`], [`${sshd.userHost}:${disk}`, disk]]) {
    const r = await syncJson(['-e', sshd.rsh, '--remote-serve', `unshare --uts ${far}`, ...ends]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /same directory .*nothing done/);
    assert.deepEqual(b3sums(disk), before);
  }
  // Nested, either way round: DST inside SRC, and SRC inside DST holding the path that leads to it.
  makeTree(disk, { 'y/y/w.jpg': 'w' });
  const nested = b3sums(disk);
  for (const [ends, said] of [
    [[disk, `${sshd.userHost}:${join(disk, 'y')}`], /is inside .*, as its y\/ /],
    [[join(disk, 'y'), `${sshd.userHost}:${disk}`], /is inside .*, as its y\/, and holds y\/: its files would land on its own/],
  ] as const) {
    const r = await syncJson(['-e', sshd.rsh, '--remote-serve', `unshare --uts ${far}`, ...ends]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, said);
    assert.deepEqual(b3sums(disk), nested);
  }
});

test('a directory and an sshfs mount of it, as two local paths (their devices differ): refused either way, nothing deleted', { skip: (process.getuid?.() !== 0 || !existsSync('/usr/bin/sshfs') || !existsSync('/dev/fuse')) && 'needs root, sshfs and /dev/fuse' }, async () => {
  const real = join(dir, 'fuse-real');
  makeTree(real, { 'a.jpg': 2 * MIB, 'b/c.jpg': 'c' });
  const before = b3sums(real);
  const view = join(dir, 'fuse-view');
  mkdirSync(view);
  const port = /-p (\d+)/.exec(sshd.rsh)![1]!;
  const key = /-i (\S+)/.exec(sshd.rsh)![1]!;
  execFileSync('sshfs', ['-p', port, '-o', `IdentityFile=${key},StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,BatchMode=yes`, `${sshd.userHost}:${real}`, view]);
  try {
    for (const ends of [[real, view], [view, real]]) {
      const r = await syncJson(ends);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /are the same directory \(a file made in one appeared in the other\); nothing done/);
      assert.deepEqual(b3sums(real), before);
    }
  } finally {
    execFileSync('fusermount', ['-u', view]);
  }
});

test('HOST:PATH inside a local SRC on this very machine: refused before anything is written', async () => {
  const src = join(dir, 'nest');
  makeTree(src, { x: 'newer', 'z/x': 1024 * 1024 });
  const before = b3sums(src);
  const r = await syncJson(['-e', sshd.rsh, '--remote-serve', remoteServe, src, `${sshd.userHost}:${join(src, 'z')}`]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /is inside .*nest, as its z\/ .*nothing done/);
  assert.deepEqual(b3sums(src), before);
});

test("a read-only SRC inside DST on another machine (its host name differs): refused before anything is written, every content kept", { skip: process.getuid?.() !== 0 && 'needs root to bind-mount' }, async () => {
  const top = join(dir, 'ro-top');
  makeTree(top, { 'z/x': 'newer', 'z/z/x': 1024 * 1024 });
  utimesSync(join(top, 'z', 'z', 'x'), 1_000_000, 1_000_000);
  const before = b3sums(top);
  const far = join(dir, 'ro-serve.sh');
  writeFileSync(far, `#!/bin/sh\nhostname another-machine\nexec ${remoteServe} "$@"\n`, { mode: 0o755 });
  const ro = join(dir, 'ro-src');
  mkdirSync(ro);
  execFileSync('mount', ['--bind', join(top, 'z'), ro]);
  try {
    execFileSync('mount', ['-o', 'remount,bind,ro', ro]);
    // SRC's z/x would go to DST's z/z/x, which is SRC's x.
    const r = await syncJson(['--copy', '-e', sshd.rsh, '--remote-serve', `unshare --uts ${far}`, ro, `${sshd.userHost}:${top}`]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /is inside .*, as its z\/, and holds z\/: its files would land on its own; nothing done/);
  } finally {
    execFileSync('umount', [ro]);
  }
  assert.deepEqual(b3sums(top), before);
});

test('a full disk at the far end: "no space" for the files that do not fit, the session goes on, sources kept', { skip: process.getuid?.() !== 0 && 'needs root to mount a tmpfs' }, async () => {
  const src = join(dir, 'full-src');
  // Large files travel in ranges, their data written as it arrives.
  makeTree(src, { 'a.bin': 5 * 1024 * 1024, 'b.bin': 5 * 1024 * 1024, 'c.bin': 5 * 1024 * 1024 });
  const before = b3sums(src);
  const small = join(dir, 'full-dst');
  mkdirSync(small);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
  try {
    const r = await syncJson(['--parallel', '1', '-e', sshd.rsh, '--remote-serve', remoteServe, src, `${sshd.userHost}:${small}`]);
    assert.equal(r.status, 1, r.stderr);
    const errors = r.events.filter((e) => e.event === 'file_error');
    assert.ok(errors.length >= 2, JSON.stringify(r.events));
    for (const e of errors) assert.match(String(e.error), /no space left on device/i);
    const moved = new Set(r.events.filter((e) => e.event === 'file_done').map((e) => e.path as string));
    assert.equal(moved.size, 3 - errors.length);
    // Only the final files are hashed: the far end may still be closing a
    // partial it could not fill (it outlives realize-sync by a moment).
    for (const [path, sum] of before) {
      if (moved.has(path)) assert.equal(b3sum(join(small, path)), sum);
      else assert.equal(b3sum(join(src, path)), sum, `${path} kept at the source`);
    }
  } finally {
    execFileSync('umount', [small]);
  }
});

test('one edited block of a large file over ssh: only its delta crosses, the rest is reused at the far end', async () => {
  const src = join(dir, 'edit-src');
  makeTree(src, { 'big.bin': 20 * 1024 * 1024 });
  const data = readFileSync(join(src, 'big.bin'));
  const dst = join(dir, 'edit-dst');
  mkdirSync(dst);
  const old = Buffer.from(data);
  old.fill(1, 12 * 1024 * 1024 + 5000, 12 * 1024 * 1024 + 5100);
  writeFileSync(join(dst, 'big.bin'), old);
  utimesSync(join(dst, 'big.bin'), 1_000_000, 1_000_000);
  const r = await syncJson(['--copy', '-e', sshd.rsh, '--remote-serve', remoteServe, src, `${sshd.userHost}:${dst}`]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(readFileSync(join(dst, 'big.bin')).equals(data));
  // The hash lists (20 MiB is 320 blocks) and one block's signature and
  // delta, 9 KB here; a signature of the whole 8 MiB range around the edit
  // made it 26 KB.
  const wire = (r.summary!.wire_bytes_sent as number) + (r.summary!.wire_bytes_received as number);
  assert.ok(wire < 16 * 1024, `${wire} bytes on the wire`);
});

test('older files grown, cut short, shifted or edited in far-apart blocks: each brought level over ssh by deltas, none re-sent whole', async () => {
  const [src, dst] = srcAndDst('shapes');
  const base = randomBytes(11 * MIB + 12345);
  const edited = Buffer.from(base);
  edited.fill(1, 2 * MIB + 10, 2 * MIB + 200);
  edited.fill(2, 9 * MIB - 100, 9 * MIB + 100);
  const grownBy = randomBytes(3 * MIB + 7);
  const versions: Record<string, Buffer> = {
    'edited.bin': edited,
    'grown.bin': Buffer.concat([base, grownBy]),
    'cut.bin': base.subarray(0, 6 * MIB + 99),
    'inserted.bin': Buffer.concat([base.subarray(0, 3 * MIB + 17), randomBytes(5000), base.subarray(3 * MIB + 17)]),
    'deleted.bin': Buffer.concat([base.subarray(0, 2 * MIB), base.subarray(2 * MIB + 12345)]),
  };
  for (const [name, newer] of Object.entries(versions)) {
    writeFileSync(join(src, name), newer);
    writeFileSync(join(dst, name), base);
    utimesSync(join(dst, name), 1_000_000, 1_000_000);
  }
  const r = await syncJson(['--copy', '-e', sshd.rsh, '--remote-serve', remoteServe, src, `${sshd.userHost}:${dst}`]);
  assert.equal(r.status, 0, r.stderr);
  for (const [name, newer] of Object.entries(versions)) assert.ok(readFileSync(join(dst, name)).equals(newer), name);
  // Only the grown file's new 3 MiB are new data; a block re-sent whole would add 1 MiB.
  const wire = (r.summary!.wire_bytes_sent as number) + (r.summary!.wire_bytes_received as number);
  assert.ok(wire < grownBy.length + MIB / 2, `${wire} bytes on the wire`);
});

test('a file rewritten with new content, pulled over ssh: its bytes cross once, not as a delta and then again whole', async () => {
  const [src, dst] = srcAndDst('rewritten');
  const newer = randomBytes(20 * MIB);
  writeFileSync(join(src, 'video.bin'), newer);
  writeFileSync(join(dst, 'video.bin'), randomBytes(20 * MIB));
  utimesSync(join(dst, 'video.bin'), 1_000_000, 1_000_000);
  const r = await syncJson(['--copy', '-e', sshd.rsh, '--remote-serve', remoteServe, `${sshd.userHost}:${src}`, dst]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(readFileSync(join(dst, 'video.bin')).equals(newer));
  const received = r.summary!.wire_bytes_received as number;
  assert.ok(received > newer.length && received < newer.length + MIB, `${received} bytes received`);
});

test('remote to remote: a peer arena to an ssh host, the data flowing through the client', async () => {
  const src = join(dir, 'r2r-src');
  makeTree(src, { 'x/one.bin': 5 * 1024 * 1024, 'two.txt': 'two' });
  const before = b3sums(src);
  let r = await syncJson(['--config', h.laptopConfig, src, 'nas:photos/r2r']);
  assert.equal(r.status, 0, r.stderr);
  const dst = join(dir, 'r2r-dst');
  r = await syncJson(['--config', h.laptopConfig, '-e', sshd.rsh, '--remote-serve', remoteServe, 'nas:photos/r2r', `${sshd.userHost}:${dst}`]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(b3sums(dst), before);
  assert.deepEqual(listFiles(join(h.arenas.photos!, 'r2r')), []);
  assert.ok((r.summary!.wire_bytes_received as number) > 5 * 1024 * 1024 && (r.summary!.wire_bytes_sent as number) > 5 * 1024 * 1024);
});

test('unreachable or unauthorized endpoints: one line, exit 1', async () => {
  let r = await syncJson(['-e', sshd.rsh.replace(/-p \d+/, '-p 1'), '--remote-serve', remoteServe, dir, `${sshd.userHost}:/tmp/x`]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /refused|closed|reach/i);
  r = await syncJson(['--config', h.laptopConfig, dir, 'nas:nosuch']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /does not grant arena nosuch/);
  r = await syncJson(['-e', sshd.rsh, '--remote-serve', '/no/such/realize-serve', dir, `${sshd.userHost}:/tmp/x`]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /No such file|not found/);
  // A command that gives up without a word is named, with its status.
  r = await syncJson(['-e', `sh -c 'exit 3' rsh`, dir, 'somehost:/tmp/x']);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /somehost: `sh -c 'exit 3' rsh` exited with status 3 before realize-serve answered/);
  // A peer that cannot be dialed as configured, and beside it a local end's own mistake, which is the one reported.
  const peer = `[peers.nas]\npubkey = "${h.nasPublicLine}"\n`;
  writeFileSync(join(dir, 'no-address.toml'), `privkey = "${join(h.dir, 'laptop.key')}"\n\n${peer}`);
  writeFileSync(join(dir, 'no-key.toml'), `${peer}address = "127.0.0.1:${h.port}"\n`);
  for (const [config, said] of [['no-address.toml', /peer nas has no address in .*: it only dials out/], ['no-key.toml', /privkey is not set; this peer needs a key to dial nas/]] as const) {
    r = await syncJson(['--config', join(dir, config), dir, 'nas:photos/x']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, said);
  }
  r = await syncJson(['--config', join(dir, 'no-key.toml'), join(dir, 'nosuch'), 'nas:photos/x']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /nosuch: no such directory/);
});

test('kill -9 mid-file, then a rerun finishes it and sends only what was missing', async () => {
  const src = join(dir, 'kill-src');
  const size = 48 * 1024 * 1024;
  makeTree(src, { 'video.bin': size });
  const before = b3sums(src);
  const args = ['--config', h.laptopConfig, '--throttle-up', '8M', src, 'nas:photos/kill'];
  const first = spawnSync(args);
  const progress = () => Math.max(0, ...first.events().filter((e) => e.event === 'progress').map((e) => e.done as number));
  await until(() => progress() >= 24 * 1024 * 1024, 30_000, 'half the file at the peer');
  first.child.kill('SIGKILL');
  await first.exited;
  const r = await syncJson(['--config', h.laptopConfig, src, 'nas:photos/kill']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(b3sums(join(h.arenas.photos!, 'kill')), before);
  const sent = r.summary!.wire_bytes_sent as number;
  assert.ok(sent < size - 16 * 1024 * 1024, `resumed: sent ${sent} of ${size}`);
  assert.ok(!exists(join(src, 'video.bin')));
});

test('a partial cut off mid-range, with a bad block: only the blocks it lacks cross', async () => {
  const [src, dst] = srcAndDst('held');
  const data = randomBytes(20 * MIB + 12345);
  writeFileSync(join(src, 'f.bin'), data);
  // What a run killed 4 KiB into block 11 may leave, and block 3 spoiled since.
  const partial = Buffer.from(data.subarray(0, 11 * MIB + 4096));
  partial.fill(0, 3 * MIB, 4 * MIB);
  writeFileSync(join(dst, '.f.bin.part'), partial);
  const r = await syncJson(['--copy', '-e', sshd.rsh, '--remote-serve', remoteServe, src, `${sshd.userHost}:${dst}`]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(readFileSync(join(dst, 'f.bin')).equals(data));
  assert.ok(!exists(join(dst, '.f.bin.part')));
  // Block 3 and blocks 11 on (10 MiB and a bit); whole 8 MiB ranges would be all 20.
  const sent = r.summary!.wire_bytes_sent as number;
  assert.ok(sent > 10 * MIB && sent < 10 * MIB + MIB / 2, `${sent} bytes sent`);
});

test('a dropped connection is retried with backoff and the move completes', async () => {
  const src = join(dir, 'drop-src');
  makeTree(src, { 'f.bin': 32 * 1024 * 1024 });
  const before = b3sums(src);
  const run = spawnSync(['--config', h.laptopConfig, '--throttle-up', '8M', '--max-duration', '90s', src, 'nas:photos/drop']);
  const progress = () => Math.max(0, ...run.events().filter((e) => e.event === 'progress').map((e) => e.done as number));
  await until(() => progress() >= 8 * 1024 * 1024, 30_000, 'a quarter of the file at the peer');
  h.serve.kill('SIGKILL');
  await until(() => run.events().some((e) => e.event === 'retry'), 30_000, 'a retry event');
  await h.restart();
  assert.equal(await run.exited, 0, run.output());
  assert.deepEqual(b3sums(join(h.arenas.photos!, 'drop')), before);
  assert.ok(!exists(join(src, 'f.bin')));
});

test('a dropped connection with less time left than the next retry: exit 11, source kept', async () => {
  const src = join(dir, 'late-src');
  makeTree(src, { 'f.bin': 32 * 1024 * 1024 });
  const run = spawnSync(['--config', h.laptopConfig, '--throttle-up', '8M', '--max-duration', '3s', src, 'nas:photos/late']);
  const progress = () => Math.max(0, ...run.events().filter((e) => e.event === 'progress').map((e) => e.done as number));
  await until(() => progress() >= 4 * 1024 * 1024, 30_000, 'some of the file at the peer');
  h.serve.kill('SIGKILL');
  try {
    assert.equal(await run.exited, 11, run.output());
    assert.equal(run.events().find((e) => e.event === 'summary')?.timed_out, true);
    assert.ok(exists(join(src, 'f.bin')), 'source kept');
  } finally {
    await h.restart();
  }
});

test('SIGINT: exit 20, the partial file kept and resumable', async () => {
  const src = join(dir, 'int-src');
  makeTree(src, { 'f.bin': 32 * 1024 * 1024 });
  const run = spawnSync(['--config', h.laptopConfig, '--throttle-up', '8M', src, 'nas:photos/int']);
  const partial = join(h.arenas.photos!, 'int', '.f.bin.part');
  await until(() => exists(partial) && statSync(partial).size > 0, 30_000, 'a partial at the peer');
  run.child.kill('SIGINT');
  assert.equal(await run.exited, 20);
  assert.ok(exists(partial));
  assert.ok(exists(join(src, 'f.bin')), 'source kept');
  const summary = run.events().find((e) => e.event === 'summary');
  assert.equal(summary?.interrupted, true);
});

test('SIGINT while a peer never finishes its handshake: exit 20 at once, not after the handshake gives up', async (t) => {
  // Accepts and never says a word: ssh2 would wait 20 s for it.
  const silent = createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.after(() => silent.close());
  const port = (silent.address() as AddressInfo).port;
  const config = join(dirname(h.laptopConfig), 'silent-peer.toml');
  writeFileSync(config, readFileSync(h.laptopConfig, 'utf8').replace(/address = "127\.0\.0\.1:\d+"/, `address = "127.0.0.1:${port}"`));
  const src = join(dir, 'silent-src');
  makeTree(src, { 'a.txt': 'a' });
  const run = spawnSync(['--config', config, src, 'nas:photos/silent']);
  await new Promise((r) => setTimeout(r, 1000));
  const sent = Date.now();
  run.child.kill('SIGINT');
  assert.equal(await run.exited, 20, run.output());
  assert.ok(Date.now() - sent < 5000, `exited ${Date.now() - sent} ms after SIGINT`);
  assert.ok(exists(join(src, 'a.txt')), 'source kept');
});

test('--max-duration, or a failing SRC, while ssh never answers (a password prompt, a hung login): the ssh command stopped too', async () => {
  const marker = `${300 + Math.floor(Math.random() * 1000)}.25`;
  const rsh = join(dir, 'stuck-ssh.sh');
  writeFileSync(rsh, `#!/bin/sh\nexec sleep ${marker}\n`, { mode: 0o755 });
  const src = join(dir, 'stuck-src');
  makeTree(src, { 'a.txt': 'a' });
  const gone = () => until(() => spawnSyncProcess('pgrep', ['-f', `sleep ${marker}`]).status === 1, 5000, 'the stuck ssh command to be gone');
  const r = await syncJson(['-e', rsh, '--max-duration', '2s', src, `somewhere:${join(dir, 'stuck-dst')}`]);
  assert.equal(r.status, 11, r.stderr);
  await gone();
  assert.ok(exists(join(src, 'a.txt')), 'source kept');
  // The run failing for another reason (no such SRC) while ssh is stuck: ssh stopped as well.
  const bad = await syncJson(['-e', rsh, join(dir, 'no-such-src'), `somewhere:${join(dir, 'stuck-dst')}`]);
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /no such directory/);
  await gone();
});

test('a destination file made, or changed, while its new copy was on its way: a conflict, both kept, nothing deleted', async () => {
  for (const [name, before] of [['made', undefined], ['changed', 'older']] as const) {
    const src = join(dir, `meanwhile-${name}-src`);
    makeTree(src, { 'f.bin': 8 * MIB });
    const dst = join(h.arenas.photos!, `meanwhile-${name}`);
    if (before) {
      makeTree(dst, { 'f.bin': before });
      utimesSync(join(dst, 'f.bin'), 1_000_000, 1_000_000);
    }
    const run = spawnSync(['--config', h.laptopConfig, '--throttle-up', '4M', src, `nas:photos/meanwhile-${name}`]);
    const partial = join(dst, '.f.bin.part');
    await until(() => exists(partial), 30_000, 'a partial at the peer');
    writeFileSync(join(dst, 'f.bin'), 'the user wrote this meanwhile');
    assert.equal(await run.exited, 1);
    assert.equal(readFileSync(join(dst, 'f.bin'), 'utf8'), 'the user wrote this meanwhile');
    assert.ok(exists(join(src, 'f.bin')), 'source kept');
    assert.ok(exists(partial), 'the new copy kept as the partial');
    const error = run.events().find((e) => e.event === 'file_error');
    assert.match(String(error?.error), new RegExp(`was ${name} during the sync; kept both`));
  }
});

test('--max-duration exceeded: exit 11, source kept', async () => {
  const src = join(dir, 'slow-src');
  makeTree(src, { 'f.bin': 32 * 1024 * 1024 });
  const r = await syncJson(['--config', h.laptopConfig, '--throttle-up', '4M', '--max-duration', '1s', src, 'nas:photos/slow']);
  assert.equal(r.status, 11, r.stderr);
  assert.equal(r.summary!.timed_out, true);
  assert.ok(exists(join(src, 'f.bin')));
});

test('a source file modified during its move is not deleted', async () => {
  const src = join(dir, 'mod-src');
  makeTree(src, { 'f.bin': 24 * 1024 * 1024 });
  const run = spawnSync(['--config', h.laptopConfig, '--throttle-up', '8M', src, 'nas:photos/mod']);
  const partial = join(h.arenas.photos!, 'mod', '.f.bin.part');
  await until(() => exists(partial) && statSync(partial).size > 0, 30_000, 'a partial at the peer');
  const data = readFileSync(join(src, 'f.bin'));
  data.fill(1, 0, 1000);
  writeFileSync(join(src, 'f.bin'), data);
  assert.equal(await run.exited, 1);
  assert.ok(readFileSync(join(src, 'f.bin')).equals(data), 'the modified source is intact');
  assert.ok(run.events().some((e) => e.event === 'file_error'));
});

test('a --copy run again over ssh: of small files DST holds at the same size, the same are unchanged, one edited at SRC is copied, one changed at DST since is a conflict', async () => {
  const [src, dst] = srcAndDst('again');
  const files: Record<string, number> = {};
  for (let i = 0; i < 300; i++) files[`d${i % 3}/f${i}`] = 1000 + i;
  makeTree(src, files);
  const args = ['--copy', '-e', sshd.rsh, '--remote-serve', remoteServe, src, `${sshd.userHost}:${dst}`];
  let r = await syncJson(args);
  assert.equal(r.status, 0, r.stderr);
  // Same sizes, new bytes: one edited at SRC, one at DST (newer there).
  writeFileSync(join(src, 'd0/f0'), randomBytes(1000));
  writeFileSync(join(dst, 'd1/f1'), randomBytes(1001));
  const later = Date.now() / 1000 + 60;
  utimesSync(join(dst, 'd1/f1'), later, later);
  r = await syncJson(args);
  assert.equal(r.status, 1, r.stderr);
  const actions = r.events.filter((e) => e.event === 'file_done').map((e) => e.action);
  assert.equal(actions.filter((a) => a === 'unchanged').length, 298);
  assert.deepEqual(r.events.filter((e) => e.event === 'file_done' && e.action === 'copied').map((e) => e.path), ['d0/f0']);
  assert.deepEqual(r.events.filter((e) => e.event === 'file_error').map((e) => [e.path, /conflict/.test(String(e.error))]), [['d1/f1', true]]);
  assert.ok(readFileSync(join(dst, 'd0/f0')).equals(readFileSync(join(src, 'd0/f0'))));
  const [held, there] = [b3sums(src), b3sums(dst)];
  held.delete('d1/f1');
  there.delete('d1/f1');
  assert.deepEqual(there, held);
  // Of the 345 KB the files hold, only the edited one's bytes went out again.
  assert.ok((r.summary!.wire_bytes_sent as number) < 50_000, String(r.summary!.wire_bytes_sent));
});

test('a --copy run again trusts remembered hashes only for the very version; a wrong one never makes a wrong copy; a move never looks', async () => {
  const [src, dst] = srcAndDst('remembered');
  makeTree(src, { 'big.bin': 3 * MIB + 7, 'small.bin': 5000, 'poisoned.bin': 2 * MIB });
  // Whole seconds, which the copies get too, so that putting them back is exact.
  for (const name of ['big.bin', 'small.bin']) utimesSync(join(src, name), 1e9, 1e9);
  const cacheDir = join(dir, 'remembered-cache');
  const env = { XDG_CACHE_HOME: cacheDir };
  const serve = `env XDG_CACHE_HOME=${join(dir, 'remembered-far')} ${remoteServe}`;
  const args = ['--copy', '-e', sshd.rsh, '--remote-serve', serve, src, `${sshd.userHost}:${dst}`];
  // Each end keeps only hashes of versions older than two seconds.
  const settle = () => new Promise((r) => setTimeout(r, 2100));
  await settle();
  let r = await syncJson(args, { env });
  assert.equal(r.status, 0, r.stderr);
  await settle();
  r = await syncJson(args, { env });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.events.filter((e) => e.event === 'file_done').map((e) => e.action), ['unchanged', 'unchanged', 'unchanged']);
  // The far end remembers DST's copies (written as it exits, just after realize-sync has).
  const [{ HashCache }, { versionsOf }] = await Promise.all([import('../../lib/storage/hash-cache.js'), import('../../lib/native.js')]);
  const far = new HashCache(join(dir, 'remembered-far', 'realize', 'hashes'));
  const remembered = async (name: string) => far.lookup([await versionsOf([join(dst, name)])])[0]?.root === b3sum(join(dst, name));
  for (const deadline = Date.now() + 10_000; !((await remembered('big.bin')) && (await remembered('small.bin'))); ) {
    assert.ok(Date.now() < deadline, 'the far end remembers');
    await new Promise((r) => setTimeout(r, 50));
  }

  // Rewritten in place at DST, size and mtime put back: the ctime tells.
  for (const name of ['big.bin', 'small.bin']) {
    const file = join(dst, name);
    writeFileSync(file, randomBytes(statSync(file).size));
    utimesSync(file, 1e9, 1e9);
  }
  r = await syncJson(args, { env });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.events.filter((e) => e.event === 'file_done' && e.action === 'copied').map((e) => e.path).sort(), ['big.bin', 'small.bin']);
  assert.deepEqual(b3sums(dst), b3sums(src));

  // Wrong entries, written by hand. One at SRC is believed by a --copy, DST's
  // check refuses what it would make, and the file is hashed anew (and the
  // entry put right); --rehash puts it right too, a move never looks.
  const mine = new HashCache(join(cacheDir, 'realize', 'hashes'));
  const wrong = 'cd'.repeat(32);
  const poison = async (cache: InstanceType<typeof HashCache>, file: string) => {
    const version = await versionsOf([file]);
    const st = statSync(file);
    const blocks = Array.from({ length: Math.ceil(st.size / MIB) }, () => wrong);
    cache.remember(version, version, { size: st.size, mtime: st.mtimeMs, ino: st.ino, root: wrong, blocks }, BigInt(Date.now() + 5000) * 1_000_000n);
    cache.flush(true);
  };
  const believed = async (cache: InstanceType<typeof HashCache>, file: string) => cache.lookup([await versionsOf([file])])[0]?.root;
  const poisoned = join(src, 'poisoned.bin');
  await poison(mine, poisoned);
  assert.equal(await believed(mine, poisoned), wrong);
  const fresh = join(dir, 'remembered-fresh');
  const to = (d: string) => ['-e', sshd.rsh, '--remote-serve', serve, src, `${sshd.userHost}:${d}`];
  r = await syncJson(['--copy', ...to(fresh)], { env });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(b3sums(fresh), b3sums(src));
  assert.equal(await believed(mine, poisoned), b3sum(poisoned), 'put right');
  // Copied more than once, counted once: never past the file's size, nor the run's total.
  const progress = r.events.filter((e) => e.event === 'progress');
  for (const e of progress) assert.ok((e.done as number) <= (e.size as number) && (e.bytes_done as number) <= (e.bytes_total as number), JSON.stringify(e));

  // One at DST makes its copy look different: brought level again, correctly.
  await poison(far, join(dst, 'big.bin'));
  r = await syncJson(args, { env });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.events.filter((e) => e.event === 'file_done' && e.action === 'copied').map((e) => e.path), ['big.bin']);
  assert.deepEqual(b3sums(dst), b3sums(src));

  await poison(mine, poisoned);
  r = await syncJson(['--copy', '--rehash', ...to(fresh)], { env });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(await believed(mine, poisoned), b3sum(poisoned), 'put right by --rehash');

  await poison(mine, poisoned);
  const sums = b3sums(src);
  rmSync(fresh, { recursive: true });
  r = await syncJson(['-e', sshd.rsh, '--remote-serve', serve, src, `${sshd.userHost}:${fresh}`], { env });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(b3sums(fresh), sums);
  assert.deepEqual(listFiles(src), []);
});

test('a copy pulled while the source is written to in place: refused, never a file that mixes two versions', async () => {
  const [src, dst] = srcAndDst('torn');
  makeTree(src, { 'f.bin': 48 * MIB });
  const run = spawnSync(['--copy', '-e', sshd.rsh, '--remote-serve', remoteServe, '--throttle-down', '16M', `${sshd.userHost}:${src}`, dst]);
  const partial = join(dst, '.f.bin.part');
  await until(() => exists(partial) && statSync(partial).size > 0, 30_000, 'a partial here');
  // The first range has been read by now, the last (4 ranges in flight of 6) not yet: a copy of both would be torn.
  const fd = openSync(join(src, 'f.bin'), 'r+');
  writeSync(fd, Buffer.alloc(MIB, 1), 0, MIB, 0);
  writeSync(fd, Buffer.alloc(MIB, 2), 0, MIB, 47 * MIB);
  closeSync(fd);
  assert.equal(await run.exited, 1, run.output());
  const error = run.events().find((e) => e.event === 'file_error');
  assert.match(String(error?.error), /changed while being read/);
  assert.ok(!exists(join(dst, 'f.bin')), 'no final copy');
});

test('10,000 small files to a peer', async () => {
  const src = join(dir, 'many');
  const files: Record<string, number> = {};
  for (let i = 0; i < 10_000; i++) files[`d${i % 100}/f${i}.txt`] = 1 + (i % 64);
  makeTree(src, files);
  const r = await syncJson(['--config', h.laptopConfig, '--parallel', '16', src, 'nas:photos/many'], { timeoutMs: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.summary!.files_ok, 10_000);
  assert.equal(listFiles(join(h.arenas.photos!, 'many')).length, 10_000);
  assert.deepEqual(listFiles(src), []);
});
