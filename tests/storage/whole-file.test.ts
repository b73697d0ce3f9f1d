// Whole small files in one call (fetch, put) and the flush barrier, on the
// Real directly and through the protocol: what they refuse, and that nothing
// is touched when they do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RealizeError } from '../../lib/model/errors.js';
import { parsePath } from '../../lib/model/path.js';
import { RemoteFiles, realizeHandler } from '../../lib/protocol/realize-service.js';
import { Session } from '../../lib/protocol/session.js';
import { RealStore } from '../../lib/storage/real.js';
import { duplexPair } from '../helpers/pair.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();
let n = 0;

function arena(): { root: string; store: RealStore } {
  const root = join(dir, `arena${n++}`);
  mkdirSync(root);
  return { root, store: new RealStore(new Map([['a', root]])) };
}

function b3sum(path: string): string {
  return execFileSync('b3sum', ['--no-names', path], { encoding: 'utf8' }).trim();
}

async function rejects(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof RealizeError && e.code === code && re.test(e.message));
}

test('put then fetch: the bytes, the b3sum root and the exact mtime make the round trip', async () => {
  const { root, store } = arena();
  const data = Buffer.from('a small file, whole\n');
  writeFileSync(join(dir, 'probe'), data);
  const hash = b3sum(join(dir, 'probe'));
  const mtime = 1_600_000_000_123.456;
  const id = await store.put('a', parsePath('deep/er/f.txt'), data, mtime, hash);
  const file = join(root, 'deep/er/f.txt');
  assert.deepEqual(readFileSync(file), data);
  assert.equal(existsSync(join(root, 'deep/er/.f.txt.part')), false);
  const st = statSync(file);
  assert.deepEqual(id, { size: data.length, mtime: st.mtimeMs, ino: st.ino });
  const got = await store.fetch('a', parsePath('deep/er/f.txt'), 1 << 20);
  assert.deepEqual(got.data, data);
  assert.equal(got.root, hash);
  assert.deepEqual(got.blocks, [hash]);
  assert.deepEqual({ size: got.size, mtime: got.mtime, ino: got.ino }, id);
  await store.flush('a');
});

test('put refuses data that does not match its root, and never replaces a final file', async () => {
  const { root, store } = arena();
  const wrong = '0'.repeat(64);
  await rejects(store.put('a', parsePath('x'), Buffer.from('data'), 0, wrong), 'verify', /does not match its BLAKE3/);
  assert.equal(existsSync(join(root, 'x')) || existsSync(join(root, '.x.part')), false);
  writeFileSync(join(root, 'y'), 'newer, written meanwhile');
  writeFileSync(join(dir, 'probe2'), 'data');
  await rejects(store.put('a', parsePath('y'), Buffer.from('data'), 0, b3sum(join(dir, 'probe2'))), 'conflict', /appeared at the destination/);
  assert.equal(readFileSync(join(root, 'y'), 'utf8'), 'newer, written meanwhile');
});

test('fetch refuses a file grown past its limit and a symbolic link', async () => {
  const { root, store } = arena();
  writeFileSync(join(root, 'big'), Buffer.alloc(5000));
  await rejects(store.fetch('a', parsePath('big'), 4096), 'conflict', /since it was listed/);
  symlinkSync(join(root, 'big'), join(root, 'link'));
  await assert.rejects(store.fetch('a', parsePath('link'), 1 << 20));
  symlinkSync('/etc', join(root, 'etc'));
  await rejects(store.fetch('a', parsePath('etc/passwd'), 1 << 20), 'path', /symbolic link/);
});

test('through the protocol: fetch and put validated, limits enforced, errors keep their codes', async () => {
  const { root, store } = arena();
  const [x, y] = duplexPair();
  const server = new Session(x, { hello: { peer: 'server', arenas: ['a'] }, handler: realizeHandler(store, new Set(['a'])) });
  const client = new Session(y, { hello: { peer: 'client', arenas: [] } });
  const remote = new RemoteFiles(client);
  try {
    writeFileSync(join(root, 'f'), 'over the wire');
    const got = await remote.fetch('a', parsePath('f'), 1 << 20);
    assert.equal(got.data.toString(), 'over the wire');
    assert.equal(got.root, b3sum(join(root, 'f')));
    await remote.put('a', parsePath('g/h'), got.data, got.mtime, got.root);
    assert.equal(readFileSync(join(root, 'g/h'), 'utf8'), 'over the wire');
    assert.equal(statSync(join(root, 'g/h')).mtimeMs, got.mtime);
    await rejects(remote.fetch('a', parsePath('f'), 1 << 30), 'path', /over the \d+-byte limit/);
    await rejects(remote.put('a', parsePath('i'), Buffer.from('x'), 0, got.root), 'verify', /does not match/);
    await rejects(remote.put('a', parsePath('i'), Buffer.from('x'), 0, 'nothex'), 'protocol', /malformed/);
    await rejects(remote.flush('b'), 'auth', /not granted/);
    await remote.flush('a');
  } finally {
    client.close();
    server.close();
  }
});
