import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchTree, type WatchEvent } from '../../lib/native.js';
import { recordArena, type RecorderOptions } from '../../lib/history/recorder.js';
import { hashRoot } from '../../lib/history/hash.js';
import { openHistory, type HistoryDb, type HistoryEntry } from '../../lib/history/store.js';

type T = { after: (fn: () => void) => void };

function tempDir(t: T, tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `realize-rec-${tag}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function b3sum(path: string): string {
  return execFileSync('b3sum', ['--no-names', path], { encoding: 'utf8' }).trim();
}

/** Entries recorded after `after`, once `pred` holds for them (5 s at most). */
async function entries(db: HistoryDb, arena: string, after: number, pred: (e: HistoryEntry[]) => boolean): Promise<HistoryEntry[]> {
  const start = Date.now();
  for (;;) {
    const got = db.arena(arena).entriesAfter(after);
    if (pred(got)) return got;
    if (Date.now() - start > 5000) throw new Error(`timed out; recorded: ${JSON.stringify(got.map((e) => [e.kind, e.path, e.from]))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const summary = (es: HistoryEntry[]) => es.map((e) => (e.from ? `${e.kind} ${e.from} -> ${e.path}` : `${e.kind} ${e.path}`));
const quiet: RecorderOptions['log'] = { warn: () => {} };

test('the startup scan records regular files only, with b3sum hashes', async (t) => {
  const root = tempDir(t, 'root');
  const db = openHistory(tempDir(t, 'state'));
  t.after(() => db.close());
  mkdirSync(join(root, 'sub/deeper'), { recursive: true });
  writeFileSync(join(root, 'a.txt'), 'alpha');
  writeFileSync(join(root, 'sub/deeper/b.bin'), Buffer.alloc(3 << 20, 7));
  writeFileSync(join(root, 'sub/.c.part'), 'partial');
  symlinkSync(join(root, 'a.txt'), join(root, 'link'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  const rec = recordArena(db, 'docs', root, { log: quiet });
  t.after(() => rec.close());
  await rec.ready;
  const got = db.arena('docs').entriesAfter(0);
  assert.deepEqual(summary(got).sort(), ['add a.txt', 'add sub/deeper/b.bin']);
  const b = got.find((e) => e.path === 'sub/deeper/b.bin')!;
  assert.equal(b.hash, b3sum(join(root, 'sub/deeper/b.bin')));
  assert.equal(b.size, 3 << 20);
  assert.deepEqual(db.arena('docs').file('a.txt')?.hash, b3sum(join(root, 'a.txt')));
});

test('live changes become add, update, rename and remove entries', async (t) => {
  const root = tempDir(t, 'root');
  const db = openHistory(tempDir(t, 'state'));
  t.after(() => db.close());
  const rec = recordArena(db, 'docs', root, { log: quiet });
  t.after(() => rec.close());
  await rec.ready;
  const a = db.arena('docs');
  const at = (n: number) => (es: HistoryEntry[]) => es.length >= n;

  writeFileSync(join(root, 'f.txt'), 'one');
  let es = await entries(db, 'docs', 0, at(1));
  assert.deepEqual(summary(es), ['add f.txt']);
  assert.equal(es[0]!.hash, b3sum(join(root, 'f.txt')));

  writeFileSync(join(root, 'f.txt'), 'two, longer');
  es = await entries(db, 'docs', 1, at(1));
  assert.deepEqual(summary(es), ['update f.txt']);
  assert.equal(es[0]!.size, 11);

  renameSync(join(root, 'f.txt'), join(root, 'g.txt'));
  es = await entries(db, 'docs', 2, at(1));
  assert.deepEqual(summary(es), ['rename f.txt -> g.txt']);
  assert.equal(es[0]!.hash, b3sum(join(root, 'g.txt')));

  mkdirSync(join(root, 'dir/inner'), { recursive: true });
  writeFileSync(join(root, 'dir/inner/x'), 'x');
  writeFileSync(join(root, 'dir/y'), 'y');
  es = await entries(db, 'docs', 3, at(2));
  assert.deepEqual(summary(es).sort(), ['add dir/inner/x', 'add dir/y']);

  renameSync(join(root, 'dir'), join(root, 'moved'));
  es = await entries(db, 'docs', 5, at(2));
  assert.deepEqual(summary(es).sort(), ['rename dir/inner/x -> moved/inner/x', 'rename dir/y -> moved/y']);

  rmSync(join(root, 'moved'), { recursive: true });
  rmSync(join(root, 'g.txt'));
  es = await entries(db, 'docs', 7, at(3));
  assert.deepEqual(summary(es).sort(), ['remove g.txt', 'remove moved/inner/x', 'remove moved/y']);
  await rec.idle();
  assert.equal(a.files().size, 0);
  assert.equal(a.lastSeq(), 10, 'nothing else was recorded');
});

test('saving by rename over the old file, and a partial file made final, end in the right index', async (t) => {
  const root = tempDir(t, 'root');
  const db = openHistory(tempDir(t, 'state'));
  t.after(() => db.close());
  writeFileSync(join(root, 'doc'), 'version 1');
  const rec = recordArena(db, 'docs', root, { log: quiet });
  t.after(() => rec.close());
  await rec.ready;
  const a = db.arena('docs');
  writeFileSync(join(root, 'doc.tmp'), 'version 2, saved atomically');
  renameSync(join(root, 'doc.tmp'), join(root, 'doc'));
  writeFileSync(join(root, '.arrived.bin.part'), 'sent by a peer');
  renameSync(join(root, '.arrived.bin.part'), join(root, 'arrived.bin'));
  await entries(db, 'docs', 1, () => a.file('doc')?.hash === b3sum(join(root, 'doc')) && a.file('arrived.bin') !== undefined);
  await rec.idle();
  assert.deepEqual([...a.files().keys()].sort(), ['arrived.bin', 'doc']);
  assert.equal(a.file('arrived.bin')!.hash, b3sum(join(root, 'arrived.bin')));
  const all = a.entriesAfter(0);
  assert.ok(all.every((e) => !e.path.includes('.part') && !e.from?.includes('.part')), JSON.stringify(summary(all)));
});

test('a file being written is recorded once, when it is complete', async (t) => {
  const root = tempDir(t, 'root');
  const db = openHistory(tempDir(t, 'state'));
  t.after(() => db.close());
  const rec = recordArena(db, 'docs', root, { log: quiet, quietMs: 200 });
  t.after(() => rec.close());
  await rec.ready;
  const fd = openSync(join(root, 'slow.bin'), 'w');
  for (let i = 0; i < 8; i++) {
    writeSync(fd, Buffer.alloc(1000, i));
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(db.arena('docs').lastSeq(), 0, 'nothing while the writes keep coming');
  // Left open: it settles after 200 ms of quiet.
  const es = await entries(db, 'docs', 0, (e) => e.length >= 1);
  closeSync(fd);
  await new Promise((r) => setTimeout(r, 100));
  await rec.idle();
  assert.deepEqual(summary(db.arena('docs').entriesAfter(0)), ['add slow.bin']);
  assert.equal(es[0]!.size, 8000);
});

test('changes made while the recorder was down are found at startup, without re-hashing unchanged files', async (t) => {
  const root = tempDir(t, 'root');
  const state = tempDir(t, 'state');
  for (const n of ['a', 'b', 'c', 'd']) writeFileSync(join(root, n), `content ${n}`);
  let db = openHistory(state);
  let rec = recordArena(db, 'docs', root, { log: quiet });
  await rec.ready;
  assert.equal(rec.stats.hashed, 4);
  rec.close();
  db.close();

  writeFileSync(join(root, 'b'), 'changed, and longer');
  writeFileSync(join(root, 'e'), 'new');
  rmSync(join(root, 'c'));
  utimesSync(join(root, 'd'), new Date(), new Date(Date.now() - 86_400_000));

  db = openHistory(state);
  t.after(() => db.close());
  const hashed: string[] = [];
  rec = recordArena(db, 'docs', root, { log: quiet, hash: (p) => (hashed.push(p.slice(root.length + 1)), hashRoot(p)) });
  t.after(() => rec.close());
  await rec.ready;
  assert.deepEqual(hashed.sort(), ['b', 'd', 'e'], 'a was not hashed');
  const es = db.arena('docs').entriesAfter(4);
  assert.deepEqual(es.map((e) => e.seq), [5, 6, 7, 8], 'seq continues after the restart');
  assert.deepEqual(summary(es).sort(), ['add e', 'remove c', 'update b', 'update d']);
  assert.equal(es.find((e) => e.path === 'd')!.hash, b3sum(join(root, 'd')));
});

test('a rescan after lost events records what the events would have', async (t) => {
  const root = tempDir(t, 'root');
  const db = openHistory(tempDir(t, 'state'));
  t.after(() => db.close());
  writeFileSync(join(root, 'keep'), 'k');
  writeFileSync(join(root, 'lost-remove'), 'r');
  let deliver: (events: WatchEvent[]) => void = () => {};
  let dropping = false;
  const rec = recordArena(db, 'docs', root, {
    log: quiet,
    // Fault injection: events are lost while `dropping`, as in a queue overflow.
    watch: (r, onEvents) => {
      deliver = onEvents;
      return watchTree(r, (events) => dropping || onEvents(events));
    },
  });
  t.after(() => rec.close());
  await rec.ready;
  dropping = true;
  mkdirSync(join(root, 'lost'));
  writeFileSync(join(root, 'lost/new'), 'n');
  rmSync(join(root, 'lost-remove'));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(db.arena('docs').lastSeq(), 2);
  dropping = false;
  deliver([{ kind: 'rescan', path: '' }]);
  const es = await entries(db, 'docs', 2, (e) => e.length >= 2);
  assert.deepEqual(summary(es).sort(), ['add lost/new', 'remove lost-remove']);
  assert.equal(rec.stats.scans, 2);
  writeFileSync(join(root, 'lost/after'), 'a');
  await entries(db, 'docs', 4, (e) => e.length >= 1);
});

test('a missing root rejects ready with a clear error', async (t) => {
  const db = openHistory(tempDir(t, 'state'));
  t.after(() => db.close());
  const rec = recordArena(db, 'docs', '/nonexistent/arena', { log: quiet });
  await assert.rejects(rec.ready, /no such file or directory/);
  rec.close();
});
