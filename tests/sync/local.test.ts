// realize-sync between local directories: the algorithm, its safety rules
// and its output, with b3sum as the oracle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync, appendFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, runBin } from '../helpers/run.js';
import { syncJson } from '../helpers/sync.js';
import { b3sum, b3sums, exists, listFiles, makeTree } from '../helpers/tree.js';
import { tempDir } from '../helpers/tmp.js';

test('moves a tree: every file verified at the destination, gone from the source', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  makeTree(src, { 'a.txt': 'hello\n', 'sub/b.bin': 3 * 1024 * 1024 + 5, 'sub/deep/c.bin': 1024 * 1024, 'empty.txt': '' });
  const before = b3sums(src);
  const r = await syncJson([src, join(dir, 'dst')]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(b3sums(join(dir, 'dst')), before);
  assert.deepEqual(listFiles(src), []);
  const done = r.events.filter((e) => e.event === 'file_done');
  assert.equal(done.length, 4);
  for (const e of done) {
    assert.equal(e.action, 'moved');
    assert.equal(e.hash, before.get(e.path as string), `hash of ${e.path}`);
  }
  assert.deepEqual(r.events[0], { event: 'start', files: 4, bytes: 6 + 3 * 1024 * 1024 + 5 + 1024 * 1024, skipped: 0 });
  assert.equal(r.summary!.files_ok, 4);
  assert.equal(r.summary!.files_failed, 0);
});

test("a move deletes only what it moved: a source file named like a partial (.x.part) beside x is the user's, and stays, skipped and counted", async () => {
  const dir = tempDir();
  makeTree(join(dir, 'src'), { x: 'x', '.x.part': 'notes' });
  const r = await syncJson([join(dir, 'src'), join(dir, 'dst')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.events[0]!.skipped, 1);
  assert.equal(r.summary!.files_skipped, 1);
  assert.equal(readFileSync(join(dir, 'dst', 'x'), 'utf8'), 'x');
  assert.equal(readFileSync(join(dir, 'src', '.x.part'), 'utf8'), 'notes');
});

test('--copy keeps the source; a second run finds everything unchanged', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  makeTree(src, { 'x/1.bin': 200_000, 'x/2.bin': 10 });
  const before = b3sums(src);
  let r = await syncJson(['--copy', src, join(dir, 'dst')]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(b3sums(src), before);
  assert.deepEqual(b3sums(join(dir, 'dst')), before);
  r = await syncJson(['--copy', src, join(dir, 'dst')]);
  assert.deepEqual(r.events.filter((e) => e.event === 'file_done').map((e) => e.action), ['unchanged', 'unchanged']);
});

test('mtimes are kept', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  makeTree(src, { 'old.txt': 'old' });
  utimesSync(join(src, 'old.txt'), 1_000_000, 1_000_000);
  const r = await syncJson([src, join(dir, 'dst')]);
  assert.equal(r.status, 0, r.stderr);
  const out = execFileSync('stat', ['-c', '%Y', join(dir, 'dst', 'old.txt')], { encoding: 'utf8' }).trim();
  assert.equal(out, '1000000');
});

test('names with spaces, colons and unicode; symlinks, fifos and empty directories skipped and counted', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  const names = ['with space.txt', 'co:lon.txt', 'ünïcødé/日本語.txt', 'tab\there.txt', '-dash.txt'];
  makeTree(src, Object.fromEntries(names.map((n) => [n, n])));
  symlinkSync('/etc/passwd', join(src, 'link'));
  execFileSync('mkfifo', [join(src, 'fifo')]);
  mkdirSync(join(src, 'empty'));
  const r = await syncJson(['--copy', src, join(dir, 'dst')]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(listFiles(join(dir, 'dst')), [...names].sort());
  for (const n of names) assert.equal(readFileSync(join(dir, 'dst', n), 'utf8'), n);
  assert.equal(r.events[0]!.skipped, 3);
  assert.ok(!exists(join(dir, 'dst', 'link')) && !exists(join(dir, 'dst', 'fifo')));
});

test('human output: one line per file with its BLAKE3, then Success', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  makeTree(src, { 'f.txt': 'abc' });
  const r = await runBin('realize-sync', [src, join(dir, 'dst')]);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^\[1\/1\] Moved +f\.txt 3B BLAKE3 6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85\nSuccess: 1 file moved\n$/);
});

test('SRC and DST the same directory, through a symlink or a bind mount: refused, nothing touched', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  makeTree(src, { 'keep.txt': 'precious' });
  symlinkSync(src, join(dir, 'alias'));
  for (const dst of [src, join(dir, 'alias'), join(dir, 'alias', '.')]) {
    const r = await runBin('realize-sync', [src, dst]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /same directory; nothing done/);
  }
  const r = await runBin('realize-sync', [src, join(src, 'inner')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /inside/);
  if (process.getuid?.() === 0) {
    const bind = join(dir, 'bind');
    mkdirSync(bind);
    execFileSync('mount', ['--bind', src, bind]);
    try {
      const b = await runBin('realize-sync', [src, bind]);
      assert.equal(b.status, 1);
      assert.match(b.stderr, /same directory/);
      const inner = await runBin('realize-sync', [src, join(bind, 'inner')]);
      assert.equal(inner.status, 1);
      assert.match(inner.stderr, /is inside/);
    } finally {
      execFileSync('umount', [bind]);
    }
  }
  assert.equal(readFileSync(join(src, 'keep.txt'), 'utf8'), 'precious');
  assert.deepEqual(listFiles(src), ['keep.txt']);
});

test('SRC inside DST: refused where its files would land on its own (DST/sub is SRC, which holds sub/), moved otherwise', async () => {
  const dir = tempDir();
  makeTree(join(dir, 'D', 'sub'), { x: 'the first x', 'sub/x': 'the second x' });
  const r = await runBin('realize-sync', ['--parallel', '1', join(dir, 'D', 'sub'), join(dir, 'D')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /is inside .* and holds sub\/: its files would land on its own; nothing done/);
  assert.equal(readFileSync(join(dir, 'D', 'sub', 'x'), 'utf8'), 'the first x');
  assert.equal(readFileSync(join(dir, 'D', 'sub', 'sub', 'x'), 'utf8'), 'the second x');
  makeTree(join(dir, 'P', 'incoming'), { 'a.jpg': 'a' });
  const ok = await syncJson([join(dir, 'P', 'incoming'), join(dir, 'P')]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(readFileSync(join(dir, 'P', 'a.jpg'), 'utf8'), 'a');
});

test('SRC a bind mount of a directory inside DST, its first file on a mount of its own that DST does not see: refused, nothing written', { skip: process.getuid?.() !== 0 && 'needs root to mount' }, async () => {
  const dir = tempDir();
  const d = join(dir, 'D');
  makeTree(d, { 'z/x': 'SRC x', 'z/z/x': 'SRC z/x', 'z/a': 'a', 'z/0/.keep': '' });
  const before = b3sums(d);
  const s = join(dir, 'S');
  mkdirSync(s);
  execFileSync('mount', ['--bind', join(d, 'z'), s]);
  // Seen through S only: SRC's first file, 0/f, is nowhere under D.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', join(s, '0')]);
  try {
    writeFileSync(join(s, '0', 'f'), 'only in S');
    const r = await runBin('realize-sync', ['--copy', s, d]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /is inside .*, as its z\/, and holds z\/: its files would land on its own; nothing done/);
  } finally {
    execFileSync('umount', [join(s, '0')]);
    execFileSync('umount', [s]);
  }
  assert.deepEqual(b3sums(d), before);
});

test('a --copy run again where a read-only directory of DST holds files by SRC top-level names: not taken for SRC, done', { skip: process.getuid?.() !== 0 && 'needs root to bind-mount' }, async () => {
  const dir = tempDir();
  const [src, dst] = [join(dir, 'S'), join(dir, 'D')];
  makeTree(src, { LICENSE: 'top', 'vendor/lib/LICENSE': 'lib', 'vendor/lib/code.go': 'code' });
  assert.equal((await runBin('realize-sync', ['--copy', src, dst])).status, 0);
  const lib = join(dst, 'vendor', 'lib');
  execFileSync('mount', ['--bind', lib, lib]);
  try {
    execFileSync('mount', ['-o', 'remount,bind,ro', lib]);
    const r = await syncJson(['--copy', src, dst]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.summary!.files_ok, 3);
  } finally {
    execFileSync('umount', [lib]);
  }
  assert.deepEqual(b3sums(dst), b3sums(src));
});

test('SRC a bind mount of a full directory inside DST (no inode left for a probe): refused, not passed over', { skip: process.getuid?.() !== 0 && 'needs root to mount' }, async () => {
  const dir = tempDir();
  const d = join(dir, 'D');
  const of = join(d, 'of');
  mkdirSync(of, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,nr_inodes=16', 'tmpfs', of]);
  const s = join(dir, 'S');
  mkdirSync(s);
  try {
    makeTree(of, { 'a.txt': 'SRC a', 'of/a.txt': 'SRC of/a' });
    // Every inode used: no probe can be made there, though space may free up later in a move.
    for (let i = 0; ; i++) {
      try {
        writeFileSync(join(of, `fill${i}`), '');
      } catch {
        break;
      }
    }
    execFileSync('mount', ['--bind', of, s]);
    const r = await runBin('realize-sync', ['--copy', s, d]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /cannot write to .*'s of\/ .*no space left on device.*which may be SRC; nothing done/i);
    assert.equal(readFileSync(join(of, 'a.txt'), 'utf8'), 'SRC a');
  } finally {
    execFileSync('umount', [s]);
    execFileSync('umount', [of]);
  }
});

test('copies sharing inode numbers with their sources (two tmpfs count inodes alike), and hard links: neither taken for one file reached two ways', { skip: process.getuid?.() !== 0 && 'needs root to mount a tmpfs' }, async () => {
  const dir = tempDir();
  const [a, b] = [join(dir, 'A'), join(dir, 'B')];
  for (const m of [a, b]) {
    mkdirSync(m);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', m]);
  }
  try {
    // Made last first: an inode order that differs from the paths' order.
    const src = join(a, 'src');
    mkdirSync(src);
    for (const n of [3, 2, 1]) writeFileSync(join(src, `f${n}`), `hello${n}`);
    for (const n of [1, 2, 3]) utimesSync(join(src, `f${n}`), 1_700_000_000, 1_700_000_000);
    execFileSync('ln', [join(src, 'f1'), join(src, 'link')]);
    const copy = await syncJson(['--copy', src, join(b, 'dst')]);
    assert.equal(copy.status, 0, copy.stderr);
    const again = await syncJson(['--copy', src, join(b, 'dst')]);
    assert.equal(again.status, 0, again.stderr);
    execFileSync('cp', ['-al', src, join(a, 'links')]);
    const linked = await syncJson(['--copy', src, join(a, 'links')]);
    assert.equal(linked.status, 0, linked.stderr);
    const move = await syncJson([src, join(b, 'dst')]);
    assert.equal(move.status, 0, move.stderr);
    assert.deepEqual(listFiles(src), []);
    assert.equal(readFileSync(join(b, 'dst', 'f3'), 'utf8'), 'hello3');
  } finally {
    for (const m of [a, b]) execFileSync('umount', [m]);
  }
});

test('a destination newer than its source is a conflict: both kept, exit 1', async () => {
  const dir = tempDir();
  makeTree(join(dir, 'src'), { 'doc.txt': 'from source' });
  makeTree(join(dir, 'dst'), { 'doc.txt': 'edited at destination' });
  utimesSync(join(dir, 'src', 'doc.txt'), 1_000_000, 1_000_000);
  const r = await syncJson([join(dir, 'src'), join(dir, 'dst')]);
  assert.equal(r.status, 1);
  assert.match(String(r.events.find((e) => e.event === 'file_error')?.error), /conflict/);
  assert.equal(readFileSync(join(dir, 'src', 'doc.txt'), 'utf8'), 'from source');
  assert.equal(readFileSync(join(dir, 'dst', 'doc.txt'), 'utf8'), 'edited at destination');
});

test('an older destination is brought level by deltas and verified', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  makeTree(src, { 'big.bin': 20 * 1024 * 1024 });
  const data = readFileSync(join(src, 'big.bin'));
  // The destination holds an older version: a shifted start and a few edits.
  const old = Buffer.concat([Buffer.from('inserted at the start'), data]);
  old.fill(7, 5_000_000, 5_010_000);
  mkdirSync(join(dir, 'dst'));
  writeFileSync(join(dir, 'dst', 'big.bin'), old);
  utimesSync(join(dir, 'dst', 'big.bin'), 1_000_000, 1_000_000);
  const r = await syncJson([src, join(dir, 'dst')]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(readFileSync(join(dir, 'dst', 'big.bin')).equals(data));
  assert.ok(!exists(join(src, 'big.bin')));
});

test('an older destination with the same bytes is unchanged and never rewritten; one changed block is brought level', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  makeTree(src, { 'same.bin': 20 * 1024 * 1024, 'edited.bin': 20 * 1024 * 1024 });
  mkdirSync(join(dir, 'dst'));
  // Copies made without keeping mtimes (cp without -p): older, same bytes.
  const same = readFileSync(join(src, 'same.bin'));
  writeFileSync(join(dir, 'dst', 'same.bin'), same);
  const edited = readFileSync(join(src, 'edited.bin'));
  const old = Buffer.from(edited);
  old.fill(1, 12 * 1024 * 1024, 12 * 1024 * 1024 + 100);
  writeFileSync(join(dir, 'dst', 'edited.bin'), old);
  for (const f of ['same.bin', 'edited.bin']) utimesSync(join(dir, 'dst', f), 1_000_000, 1_000_000);
  const inode = statSync(join(dir, 'dst', 'same.bin')).ino;
  const r = await syncJson(['--copy', src, join(dir, 'dst')]);
  assert.equal(r.status, 0, r.stderr);
  const actions = Object.fromEntries(r.events.filter((e) => e.event === 'file_done').map((e) => [e.path, e.action]));
  assert.deepEqual(actions, { 'same.bin': 'unchanged', 'edited.bin': 'copied' });
  assert.equal(statSync(join(dir, 'dst', 'same.bin')).ino, inode, 'the unchanged file was not replaced');
  assert.deepEqual(readdirSync(join(dir, 'dst')).sort(), ['edited.bin', 'same.bin'], 'no partial left behind');
  assert.ok(readFileSync(join(dir, 'dst', 'edited.bin')).equals(edited));
});

test('--json into a pipe read slowly: every line arrives, the summary last', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  const files: Record<string, string> = {};
  for (let i = 0; i < 3000; i++) files[`d${i % 30}/f${i}`] = String(i);
  makeTree(src, files);
  // The reader starts 3 s late, after realize-sync is done: the pipe filled long before, and Node held the rest.
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN_DIR + 'realize-sync.js')} --json --copy ${JSON.stringify(src)} ${JSON.stringify(join(dir, 'dst'))} | (sleep 3; cat)`;
  const out = execFileSync('sh', ['-c', cmd], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; files_ok?: number });
  assert.equal(lines.filter((e) => e.event === 'file_done').length, 3000);
  assert.equal(lines.at(-1)?.event, 'summary');
  assert.equal(lines.at(-1)?.files_ok, 3000);
});

test('--dry-run changes nothing', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  makeTree(src, { 'a.txt': 'a', 'b/c.txt': 'c' });
  const r = await syncJson(['--dry-run', src, join(dir, 'dst')]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.events.filter((e) => e.event === 'file_done').map((e) => e.action), ['would_move', 'would_move']);
  assert.deepEqual(listFiles(src), ['a.txt', 'b/c.txt']);
  assert.ok(!exists(join(dir, 'dst')));
});

test('a partial file left by an earlier run is resumed, not re-sent', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  makeTree(src, { 'f.bin': 24 * 1024 * 1024 });
  const data = readFileSync(join(src, 'f.bin'));
  mkdirSync(join(dir, 'dst'));
  writeFileSync(join(dir, 'dst', '.f.bin.part'), data.subarray(0, 16 * 1024 * 1024));
  const r = await syncJson(['--copy', src, join(dir, 'dst')]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(readFileSync(join(dir, 'dst', 'f.bin')).equals(data));
  assert.ok(!exists(join(dir, 'dst', '.f.bin.part')));
});

test('a full destination disk: exit 1 with "no space", every unverified source byte kept', { skip: process.getuid?.() !== 0 && 'needs root to mount a tmpfs' }, async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  makeTree(src, { 'a.bin': 3 * 1024 * 1024, 'b.bin': 3 * 1024 * 1024, 'c.bin': 3 * 1024 * 1024, 'd.bin': 3 * 1024 * 1024 });
  const before = b3sums(src);
  const small = join(dir, 'small');
  mkdirSync(small);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
  try {
    const r = await syncJson(['--parallel', '1', src, small]);
    assert.equal(r.status, 1);
    const errors = r.events.filter((e) => e.event === 'file_error');
    assert.ok(errors.length >= 2, JSON.stringify(r.events));
    for (const e of errors) assert.match(String(e.error), /no space left on device/i);
    const moved = new Set(r.events.filter((e) => e.event === 'file_done').map((e) => e.path as string));
    for (const [path, sum] of before) {
      if (moved.has(path)) assert.equal(b3sums(small).get(path), sum);
      else assert.equal(b3sums(src).get(path), sum, `${path} kept at the source`);
    }
    const human = await runBin('realize-sync', [src, small]);
    assert.equal(human.status, 1);
    assert.match(human.stderr, /Failed .*no space left on device/i);
    assert.match(human.stderr, /^Error: \d+ files? failed/m);
  } finally {
    execFileSync('umount', [small]);
  }
});

test('small files onto a full disk: each that does not fit fails alone, its source kept, no partial left', { skip: process.getuid?.() !== 0 && 'needs root to mount a tmpfs' }, async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  const files: Record<string, number> = {};
  for (let i = 0; i < 60; i++) files[`d${i % 3}/f${i}`] = 100_000;
  makeTree(src, files);
  const before = b3sums(src);
  const small = join(dir, 'small');
  mkdirSync(small);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small]);
  try {
    const r = await syncJson([src, small]);
    assert.equal(r.status, 1);
    const errors = r.events.filter((e) => e.event === 'file_error');
    const moved = new Set(r.events.filter((e) => e.event === 'file_done').map((e) => e.path as string));
    assert.ok(errors.length > 0 && moved.size > 0, JSON.stringify(r.summary));
    assert.equal(errors.length + moved.size, 60);
    for (const e of errors) assert.match(String(e.error), /no space/i);
    const after = b3sums(small);
    for (const [path, sum] of before) {
      if (moved.has(path)) assert.equal(after.get(path), sum);
      else assert.equal(b3sums(src).get(path), sum, `${path} kept at the source`);
    }
    assert.deepEqual(listFiles(small).filter((f) => f.includes('.part')), []);
  } finally {
    execFileSync('umount', [small]);
  }
});

test('an edited file onto a disk with no room for its new version: no space, the old one untouched, the source kept', { skip: process.getuid?.() !== 0 && 'needs root to mount a tmpfs' }, async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  makeTree(src, { 'f.bin': 10 * 1024 * 1024 });
  const small = join(dir, 'small');
  mkdirSync(small);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=14m', 'tmpfs', small]);
  try {
    writeFileSync(join(small, 'f.bin'), readFileSync(join(src, 'f.bin')));
    utimesSync(join(small, 'f.bin'), 1_000_000, 1_000_000);
    const old = b3sum(join(small, 'f.bin'));
    // One edited block: the rest is copied from the old version into the new, which does not fit beside it.
    const edited = readFileSync(join(src, 'f.bin'));
    edited.fill(7, 5_000_000, 5_000_100);
    writeFileSync(join(src, 'f.bin'), edited);
    const before = b3sums(src);
    const r = await syncJson([src, small]);
    assert.equal(r.status, 1);
    assert.match(String(r.events.find((e) => e.event === 'file_error')?.error), /no space left on device/i);
    // (Only the final: reading the partial's holes would need room on the full tmpfs.)
    assert.equal(b3sum(join(small, 'f.bin')), old, 'the old version as it was');
    assert.deepEqual(b3sums(src), before, 'the source kept');
  } finally {
    execFileSync('umount', [small]);
  }
});

test('bad arguments: one line, exit 1', async () => {
  const dir = tempDir();
  let r = await runBin('realize-sync', [join(dir, 'missing'), join(dir, 'dst')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^realize-sync: .*missing: no such directory\n$/);
  r = await runBin('realize-sync', ['--parallel', 'x', dir, join(dir, 'd')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--parallel/);
  r = await runBin('realize-sync', ['--throttle', '12Q', dir, join(dir, 'd')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /12Q/);
  writeFileSync(join(dir, 'bad.toml'), 'privkey = \n');
  r = await runBin('realize-sync', ['--config', join(dir, 'bad.toml'), dir, join(dir, 'd')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.toml:1/);
  appendFileSync(join(dir, 'x'), '');
  // A destination that cannot be made: why, in words.
  r = await runBin('realize-sync', [dir, join(dir, 'x', 'd')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^realize-sync: cannot create .*x\/d: not a directory\n$/);
});
