// Whole small files, a batch in one call (fetchMany, putMany), hashed reads and the flush barrier, on the
// Real directly and through the protocol: what they refuse, and that nothing
// is touched when they do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RealizeError } from '../../lib/model/errors.js';
import { hashFile, rootFromBlocks } from '../../lib/native.js';
import { parsePath } from '../../lib/model/path.js';
import { RemoteFiles, realizeMethods } from '../../lib/protocol/realize-service.js';
import { Session, handlerOf, type MethodTable } from '../../lib/protocol/session.js';
import { RealStore } from '../../lib/storage/real.js';
import { duplexPair } from '../helpers/pair.js';
import { tempArena } from '../helpers/arena.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();

/** `table` served over a session pair, some of its methods replaced (an older or a lying server): RemoteFiles, and the raw client session beside it. */
function servedWith(table: MethodTable, replaced: MethodTable = {}) {
  const [x, y] = duplexPair();
  const server = new Session(x, { hello: { peer: 'server', arenas: ['a'] }, handler: handlerOf({ ...table, ...replaced }) });
  const client = new Session(y, { hello: { peer: 'client', arenas: [] } });
  return { client, remote: new RemoteFiles(client), close: () => (client.close(), server.close()) };
}

function b3sum(path: string): string {
  return execFileSync('b3sum', ['--no-names', path], { encoding: 'utf8' }).trim();
}

async function rejects(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof RealizeError && e.code === code && re.test(e.message));
}

/** The one result of a batch of one, thrown if it is an error. */
async function one<T>(p: Promise<(T | RealizeError)[]>): Promise<T> {
  const [r] = await p;
  if (r instanceof RealizeError) throw r;
  return r!;
}

function put(store: { putMany: RealStore['putMany'] }, path: string, data: Buffer, mtime: number, root: string) {
  return one(store.putMany('a', [{ path: parsePath(path), data, mtime, root }]));
}

function fetch(store: { fetchMany: RealStore['fetchMany'] }, path: string, maxSize: number) {
  return one(store.fetchMany('a', [parsePath(path)], maxSize));
}

/** A fresh arena, and the same served over a session (RemoteFiles). */
function served() {
  const { root, store } = tempArena();
  return { root, store, ...servedWith(realizeMethods(store, new Set(['a']))) };
}

test('put then fetch: the bytes, the b3sum root and the exact mtime make the round trip', async () => {
  const { root, store } = tempArena();
  const data = Buffer.from('a small file, whole\n');
  writeFileSync(join(dir, 'probe'), data);
  const hash = b3sum(join(dir, 'probe'));
  const mtime = 1_600_000_000_123.456;
  const id = await put(store, 'deep/er/f.txt', data, mtime, hash);
  const file = join(root, 'deep/er/f.txt');
  assert.deepEqual(readFileSync(file), data);
  assert.equal(existsSync(join(root, 'deep/er/.f.txt.part')), false);
  const st = statSync(file);
  assert.deepEqual(id, { size: data.length, mtime: st.mtimeMs, ino: st.ino });
  const got = await fetch(store, 'deep/er/f.txt', 1 << 20);
  assert.deepEqual(got.data, data);
  assert.equal(got.root, hash);
  assert.deepEqual(got.blocks, [hash]);
  assert.deepEqual({ size: got.size, mtime: got.mtime, ino: got.ino }, id);
  await store.flush('a', [parsePath('deep/er/f.txt'), parsePath('not/there')]);
});

test('put refuses data that does not match its root, and never replaces a final file', async () => {
  const { root, store } = tempArena();
  const wrong = '0'.repeat(64);
  await rejects(put(store, 'x', Buffer.from('data'), 0, wrong), 'verify', /does not match its BLAKE3/);
  assert.equal(existsSync(join(root, 'x')) || existsSync(join(root, '.x.part')), false);
  writeFileSync(join(root, 'y'), 'newer, written meanwhile');
  writeFileSync(join(dir, 'probe2'), 'data');
  await rejects(put(store, 'y', Buffer.from('data'), 0, b3sum(join(dir, 'probe2'))), 'conflict', /appeared at the destination/);
  assert.equal(readFileSync(join(root, 'y'), 'utf8'), 'newer, written meanwhile');
});

test('fetch refuses a file grown past its limit and a symbolic link', async () => {
  const { root, store } = tempArena();
  writeFileSync(join(root, 'big'), Buffer.alloc(5000));
  await rejects(fetch(store, 'big', 4096), 'conflict', /since it was listed/);
  symlinkSync(join(root, 'big'), join(root, 'link'));
  await assert.rejects(fetch(store, 'link', 1 << 20));
  symlinkSync('/etc', join(root, 'etc'));
  await rejects(fetch(store, 'etc/passwd', 1 << 20), 'path', /symbolic link/);
});

test('through the protocol: fetch and put validated, limits enforced, errors keep their codes', async () => {
  const { root, remote, close } = served();
  try {
    writeFileSync(join(root, 'f'), 'over the wire');
    const got = await fetch(remote, 'f', 1 << 20);
    assert.equal(got.data.toString(), 'over the wire');
    assert.equal(got.root, b3sum(join(root, 'f')));
    await put(remote, 'g/h', got.data, got.mtime, got.root);
    assert.equal(readFileSync(join(root, 'g/h'), 'utf8'), 'over the wire');
    assert.equal(statSync(join(root, 'g/h')).mtimeMs, got.mtime);
    await rejects(fetch(remote, 'f', 1 << 30), 'path', /over the \d+-byte limit/);
    await rejects(put(remote, 'i', Buffer.from('x'), 0, got.root), 'verify', /does not match/);
    await rejects(put(remote, 'i', Buffer.from('x'), 0, 'nothex'), 'protocol', /malformed/);
    // A batch: each file has its own result, in order, the good ones written.
    const batch = await remote.putMany('a', [
      { path: parsePath('j/1'), data: got.data, mtime: got.mtime, root: got.root },
      { path: parsePath('j/2'), data: Buffer.from('x'), mtime: 0, root: got.root },
      { path: parsePath('k/3'), data: got.data, mtime: got.mtime, root: got.root },
    ]);
    assert.equal(batch.length, 3);
    assert.ok(!(batch[0] instanceof RealizeError) && batch[1] instanceof RealizeError && batch[1].code === 'verify' && !(batch[2] instanceof RealizeError));
    assert.equal(readFileSync(join(root, 'k/3'), 'utf8'), 'over the wire');
    const fetched = await remote.fetchMany('a', [parsePath('j/1'), parsePath('nope'), parsePath('k/3')], 1 << 10);
    assert.ok(fetched[1] instanceof RealizeError && fetched[1].code === 'not_found');
    assert.deepEqual(fetched.map((f) => (f instanceof RealizeError ? f.code : f.data.toString())), ['over the wire', 'not_found', 'over the wire']);
    await rejects(remote.flush('b', []), 'auth', /not granted/);
    await remote.flush('a', [parsePath('g/h')]);
  } finally {
    close();
  }
});

test('hashMany, here and through the protocol: the b3sum root and version of each file, without its bytes; one missing or grown past the limit is its own error', async () => {
  const { root, store, remote, close } = served();
  try {
    writeFileSync(join(root, 'one'), 'first file');
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'd/two'), Buffer.alloc(3000, 2));
    const st = statSync(join(root, 'd/two'));
    for (const side of [store, remote]) {
      const got = await side.hashMany('a', ['one', 'nope', 'd/two', 'd/nope/x'].map(parsePath), 2000);
      assert.equal(got.length, 4);
      const [one, missing, grown, noDir] = got;
      assert.ok(!(one instanceof RealizeError) && one!.root === b3sum(join(root, 'one')) && one!.size === 10 && one!.blocks.length === 1);
      assert.ok(missing instanceof RealizeError && missing.code === 'not_found', String(missing));
      assert.ok(grown instanceof RealizeError && grown.code === 'conflict', String(grown));
      assert.ok(noDir instanceof RealizeError && noDir.code === 'not_found', String(noDir));
      const [two] = await side.hashMany('a', [parsePath('d/two')], 4096);
      assert.ok(!(two instanceof RealizeError));
      assert.deepEqual({ ...two!, blocks: two!.blocks.length }, { size: 3000, mtime: st.mtimeMs, ino: st.ino, root: b3sum(join(root, 'd/two')), blocks: 1 });
    }
    await rejects(remote.hashMany('a', [parsePath('one')], 64 << 20), 'path', /over the \d+-byte limit/);
  } finally {
    close();
  }
});

test('a hashed read, here and through the protocol: the bytes with the block values b3sum agrees with; anything but whole blocks refused, and so is a file no longer the version listed', async () => {
  const { root, store, remote, close } = served();
  try {
    const MIB = 1 << 20;
    const data = Buffer.alloc(3 * MIB + 5);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    writeFileSync(join(root, 'f'), data);
    const whole = await hashFile(join(root, 'f'));
    const st = statSync(join(root, 'f'));
    const listed = { size: st.size, mtime: st.mtimeMs, ino: st.ino };
    for (const side of [store, remote]) {
      const head = await side.readHashed('a', parsePath('f'), 0, 2 * MIB, listed);
      assert.ok(Buffer.concat([head.data].flat()).equals(data.subarray(0, 2 * MIB)));
      assert.deepEqual(head.blocks, whole.blocks.slice(0, 2));
      const tail = await side.readHashed('a', parsePath('f'), 2 * MIB, MIB + 5, listed);
      assert.deepEqual(tail.blocks, whole.blocks.slice(2));
      assert.equal(rootFromBlocks(data.length, [...head.blocks, ...tail.blocks]), b3sum(join(root, 'f')));
      await rejects(side.readHashed('a', parsePath('f'), 100, MIB, listed), 'path', /not whole blocks/);
      await rejects(side.readHashed('a', parsePath('f'), 0, MIB + 1, listed), 'path', /not whole blocks/);
      // Written to since it was listed (same size, a later mtime): what is read may mix two versions.
      await rejects(side.readHashed('a', parsePath('f'), 0, MIB, { ...listed, mtime: listed.mtime - 1000 }), 'conflict', /changed while being read/);
    }
  } finally {
    close();
  }
});

test("a file's hash through the protocol: its block values in bulk, 32 bytes each, so a reply's metadata does not grow with the file; an older server's JSON values still read; a count that does not fit the size, or an unknown form of values asked for, refused", async () => {
  const { root, store } = tempArena();
  const table = realizeMethods(store, new Set(['a']));
  const serve = (hash = table.hash!) => servedWith(table, { hash });
  const MIB = 1 << 20;
  writeFileSync(join(root, 'big'), Buffer.alloc(40 * MIB + 7, 9));
  writeFileSync(join(root, 'small'), 'one block');
  const p = parsePath('big');
  const here = await store.hash('a', p, 'final');
  assert.equal(here.root, b3sum(join(root, 'big')));
  assert.equal(here.blocks.length, 41);

  const now = serve();
  try {
    assert.deepEqual(await now.remote.hash('a', p, 'final'), here);
    assert.deepEqual(await now.remote.hash('a', parsePath('small'), 'final'), await store.hash('a', parsePath('small'), 'final'));
    const raw = await now.client.call('hash', { arena: 'a', path: 'big', form: 'final', blocks: 'bulk' });
    assert.deepEqual(Object.keys(raw.result as object).sort(), ['ino', 'mtime', 'root', 'size']);
    assert.equal(raw.bulk.buffer().length, 41 * 32);
    // A client that does not ask gets them as JSON, as before.
    assert.deepEqual((await now.client.call('hash', { arena: 'a', path: 'big', form: 'final' })).result, here);
    // Any other way of sending them is refused, not answered as JSON.
    await rejects(now.client.call('hash', { arena: 'a', path: 'big', form: 'final', blocks: 'base64' }), 'protocol', /blocks is not "bulk"/);
  } finally {
    now.close();
  }

  const older = serve((a, bulk, ctx) => table.hash!({ ...a, blocks: undefined }, bulk, ctx));
  try {
    assert.deepEqual(await older.remote.hash('a', p, 'final'), here);
  } finally {
    older.close();
  }

  const { blocks: _, ...version } = here;
  for (const wrong of [Buffer.alloc(40 * 32), Buffer.alloc(41 * 32 - 1)]) {
    const lying = serve(async () => ({ result: version, bulk: wrong }));
    try {
      await rejects(lying.remote.hash('a', p, 'final'), 'protocol', /malformed hash reply/);
    } finally {
      lying.close();
    }
  }
});

test("a delta through the protocol: past the client's limit the server says so and sends no bytes; an older server, which knows no limit, still sends its delta", async () => {
  const { root, store } = tempArena();
  const table = realizeMethods(store, new Set(['a']));
  const serve = (diff = table.diff!) => servedWith(table, { diff });
  const MIB = 1 << 20;
  writeFileSync(join(root, 'old'), Buffer.alloc(2 * MIB, 3));
  writeFileSync(join(root, 'new'), randomBytes(2 * MIB));
  const sig = await store.signature('a', parsePath('old'), 0, 2 * MIB);
  const now = serve();
  try {
    assert.equal(await now.remote.diff('a', parsePath('new'), 0, 2 * MIB, sig, 2 * MIB), undefined);
    assert.ok((await now.remote.diff('a', parsePath('new'), 0, 2 * MIB, sig))!.length > 2 * MIB);
    assert.ok((await now.remote.diff('a', parsePath('old'), 0, 2 * MIB, sig, 2 * MIB))!.length < 100);
    for (const bad of [-1, 0.5]) await rejects(now.remote.diff('a', parsePath('new'), 0, 2 * MIB, sig, bad), 'path', /must be an integer/);
  } finally {
    now.close();
  }
  const older = serve((a, bulk, ctx) => table.diff!({ ...a, limit: undefined }, bulk, ctx));
  try {
    assert.ok((await older.remote.diff('a', parsePath('new'), 0, 2 * MIB, sig, 2 * MIB))!.length > 2 * MIB);
  } finally {
    older.close();
  }
});
