import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openHistory, type HistoryEntry } from '../../lib/history/store.js';

const H1 = 'a'.repeat(64);
const H2 = 'b'.repeat(64);

function tempState(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'realize-history-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function until(pred: () => boolean, ms = 2000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => (pred() ? resolve() : Date.now() - start > ms ? reject(new Error('timed out')) : setTimeout(tick, 5));
    tick();
  });
}

test('entries are numbered, listed after a seq, and keep the file index', (t) => {
  const db = openHistory(tempState(t));
  t.after(() => db.close());
  const a = db.arena('photos');
  assert.equal(a.lastSeq(), 0);
  const e1 = a.append({ kind: 'add', path: 'x/one.jpg', size: 3, mtime: 1000.5, hash: H1 });
  assert.equal(e1.seq, 1);
  assert.ok(Math.abs(e1.time - Date.now()) < 5000);
  a.appendMany([
    { kind: 'add', path: 'two.jpg', size: 4, mtime: 2000, hash: H2 },
    { kind: 'update', path: 'x/one.jpg', size: 5, mtime: 3000, hash: H2 },
    { kind: 'rename', from: 'two.jpg', path: 'y/two.jpg' },
  ]);
  assert.equal(a.lastSeq(), 4);
  assert.deepEqual(a.entriesAfter(2).map((e) => [e.seq, e.kind, e.path]), [
    [3, 'update', 'x/one.jpg'],
    [4, 'rename', 'y/two.jpg'],
  ]);
  assert.deepEqual(a.entriesAfter(0, 2).map((e) => e.seq), [1, 2]);
  assert.deepEqual(a.entriesAfter(4), []);
  assert.deepEqual([...a.files()].sort(), [
    ['x/one.jpg', { size: 5, mtime: 3000, hash: H2 }],
    ['y/two.jpg', { size: 4, mtime: 2000, hash: H2 }],
  ]);
  assert.deepEqual([...a.files('x').keys()], ['x/one.jpg']);
  a.append({ kind: 'remove', path: 'x/one.jpg' });
  a.append({ kind: 'remove', path: 'never/was' });
  assert.equal(a.file('x/one.jpg'), undefined);
  assert.deepEqual([...a.files().keys()], ['y/two.jpg']);
  // Arenas are separate, even when one name is a prefix of the other.
  const b = db.arena('photo');
  assert.equal(b.lastSeq(), 0);
  assert.deepEqual(b.entriesAfter(0), []);
  assert.equal(b.files().size, 0);
});

test('bad changes are refused before anything is written', (t) => {
  const db = openHistory(tempState(t));
  t.after(() => db.close());
  const a = db.arena('docs');
  assert.throws(() => a.append({ kind: 'add', path: '../etc/passwd', size: 1, mtime: 1, hash: H1 }), /invalid path/);
  assert.throws(() => a.append({ kind: 'add', path: 'ok', size: 1, mtime: 1 }), /needs the file's hash/);
  assert.throws(() => a.append({ kind: 'rename', path: 'ok' }), /needs the path it came from/);
  assert.throws(() => a.appendMany([{ kind: 'add', path: 'fine', size: 1, mtime: 1, hash: H1 }, { kind: 'remove', path: '/abs' }]), /absolute/);
  assert.equal(a.lastSeq(), 0);
  assert.equal(a.files().size, 0);
  assert.throws(() => openHistory(db.path.replace(/\/history$/, '')), /already open/);
});

test('acks move forward only and trimming keeps what some peer still needs', (t) => {
  const db = openHistory(tempState(t));
  t.after(() => db.close());
  const a = db.arena('docs');
  for (let i = 0; i < 10; i++) a.append({ kind: 'add', path: `f${i}`, size: i, mtime: i, hash: H1 });
  a.ack('laptop', 7);
  a.ack('laptop', 3);
  assert.equal(a.acked('laptop'), 7);
  a.ack('nas', 99);
  assert.equal(a.acked('nas'), 10, 'clamped to the last seq');
  assert.equal(a.acked('phone'), 0);
  assert.equal(a.trim([]), 0, 'no peers: nothing trimmed');
  assert.equal(a.trim(['laptop', 'nas', 'phone']), 0, 'phone has nothing yet');
  assert.equal(a.trim(['laptop', 'nas']), 7);
  assert.equal(a.trimmedThrough(), 7);
  assert.deepEqual(a.entriesAfter(0).map((e) => e.seq), [8, 9, 10]);
  assert.equal(a.trim(['laptop', 'nas']), 0);
  assert.equal(a.files().size, 10, 'trimming history keeps the file index');
  assert.throws(() => a.ack('laptop', -1), /invalid acknowledged seq/);
});

test('everything survives a restart and seq numbers continue', (t) => {
  const state = tempState(t);
  let db = openHistory(state);
  let a = db.arena('docs');
  a.appendMany([
    { kind: 'add', path: 'a', size: 1, mtime: 1, hash: H1 },
    { kind: 'add', path: 'b', size: 2, mtime: 2, hash: H2 },
    { kind: 'add', path: 'c', size: 3, mtime: 3, hash: H2 },
  ]);
  a.ack('laptop', 2);
  a.trim(['laptop']);
  a.ack('nas', 3); // saved by close, not by a trim
  db.close();
  assert.throws(() => a.lastSeq() && a.entriesAfter(0), /closed/);
  db = openHistory(state);
  t.after(() => db.close());
  a = db.arena('docs');
  assert.equal(a.lastSeq(), 3);
  assert.equal(a.trimmedThrough(), 2);
  assert.equal(a.acked('laptop'), 2);
  assert.equal(a.acked('nas'), 3);
  assert.equal(a.files().size, 3);
  assert.equal(a.append({ kind: 'remove', path: 'a' }).seq, 4);
  assert.deepEqual(a.entriesAfter(0).map((e) => e.seq), [3, 4]);
});

test('subscribe replays, then streams live, exactly once and in order', async (t) => {
  const db = openHistory(tempState(t));
  t.after(() => db.close());
  const a = db.arena('docs');
  for (let i = 1; i <= 25; i++) a.append({ kind: 'add', path: `f${i}`, size: i, mtime: i, hash: H1 });
  const got: HistoryEntry[] = [];
  const stop = db.subscribe('docs', 5, (e) => got.push(e), { pageSize: 7 });
  // Appended while the replay is under way: delivered once, in order.
  a.append({ kind: 'remove', path: 'f1' });
  await until(() => got.length === 21);
  // The replay's last full page may still be followed by an empty one.
  a.append({ kind: 'remove', path: 'f2' });
  await until(() => got.length === 22);
  a.append({ kind: 'remove', path: 'f3' });
  assert.equal(got.length, 23, 'live entries are delivered as they are appended');
  assert.deepEqual(got.map((e) => e.seq), Array.from({ length: 23 }, (_, i) => i + 6));
  stop();
  a.append({ kind: 'remove', path: 'f4' });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(got.length, 23, 'nothing after unsubscribing');
  // Other arenas' entries never reach this subscriber.
  const other: HistoryEntry[] = [];
  const stop2 = db.subscribe('docs', a.lastSeq(), (e) => other.push(e));
  await new Promise((r) => setTimeout(r, 20));
  db.arena('photos').append({ kind: 'add', path: 'p', size: 1, mtime: 1, hash: H1 });
  assert.deepEqual(other, []);
  stop2();
});

test('subscribe reports a gap when entries were trimmed or the history was reset', async (t) => {
  const db = openHistory(tempState(t));
  t.after(() => db.close());
  const a = db.arena('docs');
  for (let i = 1; i <= 5; i++) a.append({ kind: 'add', path: `f${i}`, size: i, mtime: i, hash: H1 });
  a.ack('laptop', 3);
  a.trim(['laptop']);
  const gaps: number[] = [];
  const got: number[] = [];
  const stop = db.subscribe('docs', 1, (e) => got.push(e.seq), { onGap: (n) => gaps.push(n) });
  await until(() => got.length === 2);
  assert.deepEqual(gaps, [3]);
  assert.deepEqual(got, [4, 5]);
  stop();
  const got2: number[] = [];
  const stop3 = db.subscribe('docs', 50, (e) => got2.push(e.seq), { onGap: (n) => gaps.push(n) });
  await until(() => got2.length === 2);
  assert.deepEqual(gaps, [3, 3], 'a seq from the future means this history was reset');
  stop3();
});
