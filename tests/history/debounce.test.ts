import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Debouncer, type Op } from '../../lib/history/debounce.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function make(quietMs = 60) {
  const ops: Op[] = [];
  const d = new Debouncer((o) => ops.push(...o), { quietMs });
  return { d, ops };
}

test('a path is settled after it has been quiet, and every new event restarts the wait', async () => {
  const { d, ops } = make();
  d.push([{ kind: 'add', path: 'a' }]);
  await sleep(40);
  d.push([{ kind: 'update', path: 'a' }]);
  await sleep(40);
  assert.deepEqual(ops, [], 'still being written');
  await sleep(60);
  assert.deepEqual(ops, [{ op: 'settle', path: 'a' }]);
  assert.equal(d.waiting, 0);
  d.close();
});

test('a close or a whole arrival settles at once; directories are left to their contents', () => {
  const { d, ops } = make();
  d.push([
    { kind: 'add', path: 'a' },
    { kind: 'update', path: 'a', closed: true },
    { kind: 'add', path: 'dir', isDir: true },
    { kind: 'add', path: 'dir/b', closed: true },
  ]);
  assert.deepEqual(ops, [
    { op: 'settle', path: 'a' },
    { op: 'settle', path: 'dir/b' },
  ]);
  assert.equal(d.waiting, 0);
  d.close();
});

test('removals and renames pass through at once and carry what was pending', async () => {
  const { d, ops } = make();
  d.push([
    { kind: 'add', path: 'gone' },
    { kind: 'add', path: 'moving' },
    { kind: 'add', path: 'dir/x' },
    { kind: 'add', path: 'stays' },
  ]);
  d.push([
    { kind: 'remove', path: 'gone' },
    { kind: 'rename', from: 'moving', path: 'moved' },
    { kind: 'rename', from: 'dir', path: 'dir2', isDir: true },
  ]);
  assert.deepEqual(ops, [
    { op: 'remove', path: 'gone', isDir: false },
    { op: 'rename', from: 'moving', path: 'moved', isDir: false },
    { op: 'rename', from: 'dir', path: 'dir2', isDir: true },
    { op: 'settle', path: 'moved' },
    { op: 'settle', path: 'dir2/x' },
  ]);
  await sleep(100);
  assert.deepEqual(ops.slice(5), [{ op: 'settle', path: 'stays' }]);
  d.close();
});

test('a rescan drops what was pending; flush settles everything now; errors pass through', () => {
  const { d, ops } = make(10_000);
  d.push([{ kind: 'add', path: 'a' }, { kind: 'add', path: 'b' }]);
  d.push([{ kind: 'rescan', path: '' }]);
  assert.equal(d.waiting, 0);
  d.push([{ kind: 'update', path: 'c' }, { kind: 'error', path: 'x', message: 'cannot watch x' }]);
  d.flush();
  assert.deepEqual(ops, [{ op: 'rescan' }, { op: 'error', message: 'cannot watch x' }, { op: 'settle', path: 'c' }]);
  d.close();
  d.push([{ kind: 'add', path: 'late', closed: true }]);
  assert.equal(ops.length, 3, 'nothing after close');
});
