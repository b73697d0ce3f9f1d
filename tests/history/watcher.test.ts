import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { watchTree, type WatchEvent } from '../../lib/native.js';

const NATIVE = fileURLToPath(new URL('../../lib/native.js', import.meta.url));

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'realize-watch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Watches `root`, collecting every event; `waitFor` resolves once a matching event arrived. */
function collect(t: { after: (fn: () => void) => void }, root: string) {
  const events: WatchEvent[] = [];
  let wake = () => {};
  const w = watchTree(root, (batch) => {
    events.push(...batch);
    wake();
  });
  t.after(() => w.close());
  return {
    events,
    close: () => w.close(),
    waitFor(pred: (e: WatchEvent) => boolean, ms = 5000): Promise<WatchEvent> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no such event within ${ms} ms; got ${JSON.stringify(events.slice(-10))}`)), ms);
        const check = () => {
          const hit = events.find(pred);
          if (hit) {
            clearTimeout(timer);
            resolve(hit);
          }
        };
        wake = check;
        check();
      });
    },
  };
}

const is = (kind: WatchEvent['kind'], path: string) => (e: WatchEvent) => e.kind === kind && e.path === path;

test('a file written at the top is added and settled by its close', async (t) => {
  const root = tempDir(t);
  const w = collect(t, root);
  writeFileSync(join(root, 'top.txt'), 'hello');
  await w.waitFor((e) => e.path === 'top.txt' && e.closed === true);
  assert.ok(w.events.some(is('add', 'top.txt')));
  unlinkSync(join(root, 'top.txt'));
  await w.waitFor(is('remove', 'top.txt'));
});

test('changes deep in a nested tree of 300 directories are seen', async (t) => {
  const root = tempDir(t);
  // 3 levels: 6 x 7 x 7 = 294 leaf directories, 300+ in all.
  for (let a = 0; a < 6; a++) for (let b = 0; b < 7; b++) for (let c = 0; c < 7; c++) mkdirSync(join(root, `a${a}/b${b}/c${c}`), { recursive: true });
  const w = collect(t, root);
  writeFileSync(join(root, 'a5/b6/c6/deep.bin'), 'x');
  await w.waitFor(is('add', 'a5/b6/c6/deep.bin'));
  writeFileSync(join(root, 'a0/b0/c0/other'), 'y');
  await w.waitFor(is('add', 'a0/b0/c0/other'));
});

test('a directory created after start is watched, and what was made before its watch is reported', async (t) => {
  const root = tempDir(t);
  const w = collect(t, root);
  mkdirSync(join(root, 'new/inner/most'), { recursive: true });
  writeFileSync(join(root, 'new/inner/most/early'), '1');
  await w.waitFor(is('add', 'new/inner/most/early'));
  assert.ok(w.events.some((e) => e.kind === 'add' && e.path === 'new' && e.isDir));
  writeFileSync(join(root, 'new/inner/most/late'), '2');
  await w.waitFor(is('add', 'new/inner/most/late'));
});

test('renames are paired, directories carry their watches along, moves across the root are add/remove', async (t) => {
  const root = tempDir(t);
  const outside = tempDir(t);
  mkdirSync(join(root, 'd/sub'), { recursive: true });
  writeFileSync(join(root, 'd/sub/f'), '1');
  const w = collect(t, root);
  renameSync(join(root, 'd/sub/f'), join(root, 'd/g'));
  assert.equal((await w.waitFor(is('rename', 'd/g'))).from, 'd/sub/f');
  renameSync(join(root, 'd'), join(root, 'e'));
  const r = await w.waitFor(is('rename', 'e'));
  assert.deepEqual([r.from, r.isDir], ['d', true]);
  writeFileSync(join(root, 'e/sub/h'), '2');
  await w.waitFor(is('add', 'e/sub/h'));
  renameSync(join(root, 'e'), join(outside, 'gone'));
  assert.equal((await w.waitFor(is('remove', 'e'))).isDir, true);
  mkdirSync(join(outside, 'in/deep'), { recursive: true });
  writeFileSync(join(outside, 'in/deep/x'), '3');
  renameSync(join(outside, 'in'), join(root, 'came'));
  await w.waitFor(is('add', 'came/deep/x'));
});

test('partial files are never reported and symlinks are not followed', async (t) => {
  const root = tempDir(t);
  const target = tempDir(t);
  symlinkSync(target, join(root, 'link'));
  const w = collect(t, root);
  writeFileSync(join(root, '.big.iso.part'), 'partial');
  renameSync(join(root, '.big.iso.part'), join(root, 'big.iso'));
  writeFileSync(join(target, 'beyond'), 'x');
  await w.waitFor(is('add', 'big.iso'));
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(w.events.filter((e) => e.path.includes('.part') || e.path.includes('beyond')), []);
});

test('a kernel queue overflow (JS thread blocked during a burst) ends in a rescan', async (t) => {
  const root = tempDir(t);
  writeFileSync(join(root, 'a'), 'x');
  const w = collect(t, root);
  // 25,000 round trips = 100,000 events while this thread cannot take any:
  // the watcher holds a few batches, the kernel queue (16,384) overflows.
  execFileSync(process.execPath, ['-e', `const fs=require('fs');process.chdir(${JSON.stringify(root)});for(let i=0;i<25000;i++){fs.renameSync('a','b');fs.renameSync('b','a')}`]);
  await w.waitFor((e) => e.kind === 'rescan');
  writeFileSync(join(root, 'after'), 'y');
  await w.waitFor(is('add', 'after'));
});

test('a root that is a symlink is followed (only the root)', async (t) => {
  const real = tempDir(t);
  const links = tempDir(t);
  symlinkSync(real, join(links, 'arena'));
  const w = collect(t, join(links, 'arena'));
  writeFileSync(join(real, 'through'), 'x');
  await w.waitFor(is('add', 'through'));
});

test('close stops the callbacks; a bad root is a clear error', async (t) => {
  const root = tempDir(t);
  const w = collect(t, root);
  w.close();
  w.close();
  writeFileSync(join(root, 'late'), 'x');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(w.events, []);
  assert.throws(() => watchTree(join(root, 'missing'), () => {}), (e: Error & { code?: string }) => e.code === 'not_found' && /no such file or directory/.test(e.message));
  assert.throws(() => watchTree(join(root, 'late'), () => {}), /not a directory/);
});

test('a throw in the callback is an ordinary uncaught exception, not an abort', () => {
  const root = tempDir({ after: () => {} });
  const script = `
    import(${JSON.stringify(NATIVE)}).then(({ watchTree }) => {
      process.on('uncaughtException', (e) => { console.log('caught ' + e.message); w.close(); });
      const w = watchTree(${JSON.stringify(root)}, () => { throw new Error('boom'); });
      require('fs').writeFileSync(${JSON.stringify(join(root, 'f'))}, 'x');
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
  rmSync(root, { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /caught boom/);
});

test('an exhausted watch limit names the sysctl to raise', (t) => {
  const root = tempDir(t);
  for (let i = 0; i < 10; i++) mkdirSync(join(root, `d${i}`));
  // A user namespace has its own inotify limit, so the test can lower it for itself alone.
  const script = `import(${JSON.stringify(NATIVE)}).then(({ watchTree }) => { try { watchTree(${JSON.stringify(root)}, () => {}); console.log('watched') } catch (e) { console.log(e.message) } })`;
  const r = spawnSync('unshare', ['-Ur', 'sh', '-c', `echo 5 > /proc/sys/user/max_inotify_watches && exec "${process.execPath}" -e '${script}'`], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) {
    t.skip(`user namespaces unavailable: ${r.error?.message ?? r.stderr.trim()}`);
    return;
  }
  assert.match(r.stdout, /fs\.inotify\.max_user_watches/);
  assert.match(r.stdout, /sysctl fs\.inotify\.max_user_watches=\d+/);
});
