// Hashes remembered across runs (storage/hash-cache.ts): answered only when
// asked for and only for the very version hashed, never for a file changed
// in place with its size and mtime put back, nor for one changed just before
// its hashing; a cache that cannot be opened is no error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, openSync, closeSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { RealizeError } from '../../lib/model/errors.js';
import { parsePath } from '../../lib/model/path.js';
import { versionsOf } from '../../lib/native.js';
import { HashCache } from '../../lib/storage/hash-cache.js';
import { RealStore } from '../../lib/storage/real.js';
import { b3sum } from '../helpers/tree.js';
import { tempDir } from '../helpers/tmp.js';

const MIB = 1 << 20;
const SMALL = 256 << 10;
const cached = { cache: 'use' } as const;
let n = 0;

/** An arena 'a' whose store remembers hashes in a cache of its own (`racyMarginNs` 0 unless told). */
function arena(opts: { racyMarginNs?: bigint; cacheDir?: string } = {}) {
  const dir = tempDir();
  const root = join(dir, `arena${n++}`);
  mkdirSync(root);
  const cache = new HashCache(opts.cacheDir ?? join(dir, 'hashes'), { racyMarginNs: opts.racyMarginNs ?? 0n });
  return { root, cache, store: new RealStore(new Map([['a', root]]), { hashCache: cache }) };
}

/** Past the clock tick of the files just written: their ctime is then older than their hashing. */
const tick = () => new Promise((r) => setTimeout(r, 20));

test('a remembered hash answers for the very version, and only when asked for', async () => {
  const { root, cache, store } = arena();
  writeFileSync(join(root, 'big.bin'), randomBytes(2 * MIB + 5));
  await tick();
  const p = parsePath('big.bin');
  const fresh = await store.hash('a', p, 'final', cached);
  assert.equal(fresh.root, b3sum(join(root, 'big.bin')));
  assert.deepEqual(cache.stats, { hits: 0, misses: 1 });
  assert.deepEqual(await store.hash('a', p, 'final', cached), fresh);
  assert.deepEqual(cache.stats, { hits: 1, misses: 1 });
  assert.deepEqual(await store.hash('a', p, 'final'), fresh);
  assert.equal(cache.stats.hits + cache.stats.misses, 2, 'a hash not asked to be cached does not look');
});

test('a wrong entry answers a cached hash, never an uncached one', async () => {
  const { root, cache, store } = arena();
  writeFileSync(join(root, 'f.bin'), randomBytes(SMALL + 1));
  const version = await versionsOf([join(root, 'f.bin')]);
  const st = statSync(join(root, 'f.bin'));
  const wrong = 'ab'.repeat(32);
  cache.remember(version, version, { size: st.size, mtime: st.mtimeMs, ino: st.ino, root: wrong, blocks: [wrong] }, BigInt(Date.now() + 5000) * 1_000_000n);
  const p = parsePath('f.bin');
  assert.equal((await store.hash('a', p, 'final', cached)).root, wrong);
  assert.equal((await store.hash('a', p, 'final')).root, b3sum(join(root, 'f.bin')));
  const [many] = await store.hashMany('a', [p], SMALL, cached);
  assert.equal((many as { root: string }).root, wrong);
  const [plain] = await store.hashMany('a', [p], SMALL + 1);
  assert.equal((plain as { root: string }).root, b3sum(join(root, 'f.bin')));
});

test('a file rewritten in place with its size and mtime put back is hashed anew', async () => {
  const { root, cache, store } = arena();
  const file = join(root, 'f.bin');
  writeFileSync(file, randomBytes(3 * MIB));
  // Whole seconds, so that putting it back is exact.
  utimesSync(file, 1e9, 1e9);
  await tick();
  const p = parsePath('f.bin');
  await store.hash('a', p, 'final', cached);
  await store.hash('a', p, 'final', cached);
  assert.equal(cache.stats.hits, 1, 'remembered');
  const fd = openSync(file, 'r+');
  writeSync(fd, randomBytes(4096), 0, 4096, MIB + 17);
  closeSync(fd);
  utimesSync(file, 1e9, 1e9);
  assert.equal(statSync(file, { bigint: true }).mtimeNs, 10n ** 18n);
  assert.equal((await store.hash('a', p, 'final', cached)).root, b3sum(file));
  assert.equal(cache.stats.hits, 1);
});

test('a file changed less than the racy margin before its hashing is not remembered', async () => {
  const { root, cache, store } = arena({ racyMarginNs: 60_000_000_000n });
  writeFileSync(join(root, 'f.bin'), 'written just now');
  const p = parsePath('f.bin');
  await store.hash('a', p, 'final', cached);
  await store.hash('a', p, 'final', cached);
  assert.deepEqual(cache.stats, { hits: 0, misses: 2 });
});

test('hashMany: remembered hashes for files of any size, the others over maxSize refused unread, each result in its place', async () => {
  const { root, cache, store } = arena();
  writeFileSync(join(root, 'big'), randomBytes(2 * MIB));
  writeFileSync(join(root, 'big2'), randomBytes(2 * MIB));
  writeFileSync(join(root, 'small'), randomBytes(5000));
  await tick();
  await store.hash('a', parsePath('big'), 'final', cached);
  const paths = ['big', 'big2', 'small', 'gone', 'small'].map(parsePath);
  const got = await store.hashMany('a', paths, SMALL, cached);
  assert.equal((got[0] as { root: string }).root, b3sum(join(root, 'big')));
  assert.ok(got[1] instanceof RealizeError && got[1].code === 'conflict', String(got[1]));
  assert.equal((got[2] as { root: string }).root, b3sum(join(root, 'small')));
  assert.ok(got[3] instanceof RealizeError && got[3].code === 'not_found', String(got[3]));
  assert.equal((got[4] as { root: string }).root, b3sum(join(root, 'small')));
  assert.equal(cache.stats.hits, 1);
  // And the small one is remembered, once written out.
  cache.flush(true);
  await store.hashMany('a', [parsePath('small')], SMALL, cached);
  assert.equal(cache.stats.hits, 2);
});

test('a cache that cannot be opened is left unused: hashes are made as without one', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'not-a-dir'), '');
  const { root, cache, store } = arena({ cacheDir: join(dir, 'not-a-dir', 'hashes') });
  writeFileSync(join(root, 'f'), randomBytes(MIB + 1));
  await tick();
  for (let i = 0; i < 3; i++) {
    assert.equal((await store.hash('a', parsePath('f'), 'final', cached)).root, b3sum(join(root, 'f')));
    cache.flush();
  }
  assert.equal(cache.stats.hits, 0);
});
