// Ahead: SRC's larger files hashed and its small files read while DST is
// being reached, handed out once and only for the very version listed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RealStore } from '../../lib/storage/real.js';
import { Limit } from '../../lib/model/limit.js';
import { RealizeError } from '../../lib/model/errors.js';
import { Ahead } from '../../lib/sync/ahead.js';
import { compareHeld, transferSmall, type FileJob } from '../../lib/sync/transfer.js';
import { tempDir } from '../helpers/tmp.js';

const opts = { smallFile: 1024, batchFiles: 2, batchBytes: 1 << 20 };

function b3sum(file: string): string {
  return execFileSync('b3sum', ['--no-names', file], { encoding: 'utf8' }).trim();
}

test('large files are hashed ahead, each handed out once; a file changed since it was listed gets none', async () => {
  const dir = tempDir();
  for (const name of ['a.bin', 'b.bin', 'c.bin']) writeFileSync(join(dir, name), randomBytes(3 << 20));
  const store = new RealStore(new Map([['x', dir]]));
  const { files } = await store.list('x');
  const entry = (name: string) => files.find((f) => f.path === name)!;
  appendFileSync(join(dir, 'b.bin'), 'more');
  const ahead = new Ahead(store, 'x', files, opts);
  const a = await ahead.hashes(entry('a.bin'));
  assert.equal(a?.root, b3sum(join(dir, 'a.bin')));
  assert.equal(await ahead.hashes(entry('a.bin')), undefined, 'handed out once');
  assert.equal(await ahead.hashes(entry('b.bin')), undefined, 'hashed as it is now, not as listed');
  assert.ok(!('data' in a!), 'hashes carry no bytes');
  assert.equal(await ahead.whole(entry('c.bin')), undefined, 'large files are not read ahead');
});

test('small files are read ahead in batches, bytes and root as on disk; one changed since it was listed gets none', async () => {
  const dir = tempDir();
  const names = ['s0', 's1', 's2', 's3', 's4'];
  for (const name of names) writeFileSync(join(dir, name), randomBytes(500));
  const store = new RealStore(new Map([['x', dir]]));
  const { files } = await store.list('x');
  const entry = (name: string) => files.find((f) => f.path === name)!;
  appendFileSync(join(dir, 's3'), 'more');
  const ahead = new Ahead(store, 'x', files, opts);
  for (const name of ['s0', 's1', 's2', 's4']) {
    const f = await ahead.whole(entry(name));
    assert.ok(f, name);
    assert.ok(f.data.equals(readFileSync(join(dir, name))), name);
    assert.equal(f.root, b3sum(join(dir, name)), name);
  }
  assert.equal(await ahead.whole(entry('s3')), undefined, 'read as it is now, not as listed');
  assert.equal(await ahead.whole(entry('s0')), undefined, 'handed out once');
});

test('after stop, no new file is hashed or read', async () => {
  const dir = tempDir();
  for (const name of ['a.bin', 'b.bin']) writeFileSync(join(dir, name), randomBytes(2 << 20));
  for (const name of ['s0', 's1', 's2', 's3', 's4']) writeFileSync(join(dir, name), 'small');
  const store = new RealStore(new Map([['x', dir]]));
  const { files } = await store.list('x');
  const entry = (name: string) => files.find((f) => f.path === name)!;
  const ahead = new Ahead(store, 'x', files, opts);
  ahead.stop();
  // a.bin and the first two batches (s0 s1, s2 s3) were started at once; what comes next never is.
  assert.ok(await ahead.hashes(entry('a.bin')));
  assert.equal(await ahead.hashes(entry('b.bin')), undefined);
  for (const name of ['s0', 's1', 's2', 's3']) assert.ok(await ahead.whole(entry(name)), name);
  assert.equal(await ahead.whole(entry('s4')), undefined);
});

test('a batch takes what was read ahead and fetches the rest, each file where it belongs; no outcome keeps the bytes', async () => {
  const srcDir = tempDir();
  const dstDir = tempDir();
  const names = ['s0', 's1', 's2', 's3', 's4'];
  for (const name of names) writeFileSync(join(srcDir, name), randomBytes(300 + names.indexOf(name)));
  const src = { files: new RealStore(new Map([['x', srcDir]])), arena: 'x' };
  const dst = { files: new RealStore(new Map([['y', dstDir]])), arena: 'y' };
  const { files } = await src.files.list('x');
  // Changed after the listing, before being read ahead: read as they are now, so left to the batch to fetch.
  for (const name of ['s1', 's3']) appendFileSync(join(srcDir, name), 'more');
  const ahead = new Ahead(src.files, 'x', files, opts);
  const jobs: FileJob[] = files.map((entry) => ({ src: entry.path, dst: entry.path, entry }));
  const common = { limit: new Limit(1), signal: new AbortController().signal };
  const sent = await transferSmall(src, dst, jobs, { ...common, readAhead: (e) => ahead.whole(e) });
  for (const [i, r] of sent.entries()) {
    const name = files[i]!.path;
    assert.ok(!(r instanceof RealizeError), `${name}: ${String(r)}`);
    assert.ok(readFileSync(join(dstDir, name)).equals(readFileSync(join(srcDir, name))), name);
    assert.ok(!('data' in r.source), `${name}: its outcome keeps no bytes`);
  }
  // Run again: DST holds each at the same size; a new look ahead hashes them.
  const again = (await src.files.list('x')).files;
  const held = new Map((await dst.files.list('y')).files.map((f) => [f.path, f]));
  const later = new Ahead(src.files, 'x', again, opts);
  const compared = await compareHeld(src, dst, again.map((entry) => ({ src: entry.path, dst: entry.path, entry, dstFinal: held.get(entry.path) })), { ...common, prehashed: (e) => later.hashes(e) });
  assert.deepEqual(compared.map((o) => 'same' in o && o.same.changed), [false, false, false, false, false]);
  for (const o of compared) assert.ok('same' in o && !('data' in o.same.source));
});
