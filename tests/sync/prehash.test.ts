// Prehash: SRC's larger files hashed while DST is being reached, handed out
// only for the very version listed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RealStore } from '../../lib/storage/real.js';
import { Prehash } from '../../lib/sync/prehash.js';
import { tempDir } from '../helpers/tmp.js';

test('large files are hashed ahead, each handed out once; a file changed since it was listed gets none', async () => {
  const dir = tempDir();
  for (const name of ['a.bin', 'b.bin', 'small.txt']) writeFileSync(join(dir, name), name === 'small.txt' ? 'tiny' : randomBytes(3 << 20));
  const store = new RealStore(new Map([['x', dir]]));
  const { files } = await store.list('x');
  const entry = (name: string) => files.find((f) => f.path === name)!;
  appendFileSync(join(dir, 'b.bin'), 'more');
  const prehash = new Prehash(store, 'x', files, 1024);
  const a = await prehash.take(entry('a.bin'));
  assert.equal(a?.root, execFileSync('b3sum', ['--no-names', join(dir, 'a.bin')], { encoding: 'utf8' }).trim());
  assert.equal(await prehash.take(entry('a.bin')), undefined, 'handed out once');
  assert.equal(await prehash.take(entry('b.bin')), undefined, 'hashed as it is now, not as listed');
  assert.equal(await prehash.take(entry('small.txt')), undefined, 'small files are not hashed ahead');
});

test('after stop, no new file is hashed', async () => {
  const dir = tempDir();
  for (const name of ['a.bin', 'b.bin']) writeFileSync(join(dir, name), randomBytes(2 << 20));
  const store = new RealStore(new Map([['x', dir]]));
  const { files } = await store.list('x');
  const prehash = new Prehash(store, 'x', files, 1024);
  prehash.stop();
  // a.bin was started at once; b.bin, next in line, never is.
  assert.ok(await prehash.take(files[0]!));
  assert.equal(await prehash.take(files[1]!), undefined);
});
