// Partial files written through the Real: held open and locked by the
// process writing them, their finish hashing only what that process did not
// write itself, and never trusting a block it is unsure of.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RealizeError } from '../../lib/model/errors.js';
import { parsePath } from '../../lib/model/path.js';
import { randomBytes } from 'node:crypto';
import { tempArena } from '../helpers/arena.js';
import { tempDir } from '../helpers/tmp.js';

const MIB = 1 << 20;
const dir = tempDir();
let n = 0;

function b3(data: Buffer): string {
  const probe = join(dir, `probe${n++}`);
  writeFileSync(probe, data);
  return execFileSync('b3sum', ['--no-names', probe], { encoding: 'utf8' }).trim();
}

async function rejects(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof RealizeError && e.code === code && re.test(e.message));
}

const f = parsePath('f.bin');

test('ranges sent in any order, several at once, finish against the b3sum root', async () => {
  const { root, store } = tempArena();
  const data = randomBytes(5 * MIB + 123);
  const ranges = [2, 0, 4, 1, 3, 5].map((i) => [i * MIB, Math.min(data.length, (i + 1) * MIB)] as const);
  await Promise.all(ranges.map(([s, e]) => store.send('a', f, s, data.length, data.subarray(s, e))));
  await store.finish('a', f, 1_700_000_000_000, b3(data));
  assert.deepEqual(readFileSync(join(root, 'f.bin')), data);
});

test('a partial from an earlier run is hashed where this process did not write it: a bad old block fails finish', async () => {
  const { root, store } = tempArena();
  const data = randomBytes(4 * MIB);
  // An earlier run wrote the first two blocks, one of them wrong.
  const old = Buffer.from(data.subarray(0, 2 * MIB));
  old[MIB + 7]! ^= 1;
  writeFileSync(join(root, '.f.bin.part'), old);
  await store.send('a', f, 2 * MIB, data.length, data.subarray(2 * MIB));
  await rejects(store.finish('a', f, 1_700_000_000_000, b3(data)), 'verify', /hashes to/);
  // Resent, the bad block makes it.
  await store.send('a', f, MIB, data.length, data.subarray(MIB, 2 * MIB));
  await store.finish('a', f, 1_700_000_000_000, b3(data));
  assert.deepEqual(readFileSync(join(root, 'f.bin')), data);
});

test('a partial replaced under its name between ranges is opened anew, and finish reads it whole', async () => {
  const { root, store } = tempArena();
  const data = randomBytes(3 * MIB);
  await store.send('a', f, 0, data.length, data.subarray(0, MIB));
  // Someone swaps in another file of the right size with a wrong first block.
  const swapped = join(root, 'swapped');
  writeFileSync(swapped, Buffer.alloc(data.length));
  renameSync(swapped, join(root, '.f.bin.part'));
  await store.send('a', f, MIB, data.length, data.subarray(MIB));
  await rejects(store.finish('a', f, 1_700_000_000_000, b3(data)), 'verify', /hashes to/);
});

test('a deleted partial is closed: the next range starts a new file', async () => {
  const { root, store } = tempArena();
  const data = randomBytes(2 * MIB);
  await store.send('a', f, 0, data.length, data.subarray(0, MIB));
  await store.delete('a', f);
  await store.send('a', f, 0, data.length, data.subarray(0, MIB));
  await store.send('a', f, MIB, data.length, data.subarray(MIB));
  await store.finish('a', f, 1_700_000_000_000, b3(data));
  assert.deepEqual(readFileSync(join(root, 'f.bin')), data);
});

test('a size change forgets what was hashed: finish still agrees with b3sum', async () => {
  const { root, store } = tempArena();
  const data = randomBytes(3 * MIB + 5);
  await store.send('a', f, 0, 4 * MIB, randomBytes(2 * MIB));
  await store.send('a', f, 0, data.length, data.subarray(0, 2 * MIB));
  await store.send('a', f, 2 * MIB, data.length, data.subarray(2 * MIB));
  await store.truncate('a', f, data.length);
  await store.finish('a', f, 1_700_000_000_000, b3(data));
  assert.deepEqual(readFileSync(join(root, 'f.bin')), data);
});

test('another process cannot write a partial this one holds: conflict, and its bytes stay', async () => {
  const { root, store } = tempArena();
  const data = randomBytes(2 * MIB);
  await store.send('a', f, 0, data.length, data.subarray(0, MIB));
  const script = join(dir, 'other.mjs');
  const real = new URL('../../lib/storage/real.js', import.meta.url).href;
  const path = new URL('../../lib/model/path.js', import.meta.url).href;
  writeFileSync(
    script,
    `import { RealStore } from ${JSON.stringify(real)};
import { parsePath } from ${JSON.stringify(path)};
const store = new RealStore(new Map([['a', ${JSON.stringify(root)}]]));
try { await store.send('a', parsePath('f.bin'), 0, ${data.length}, Buffer.alloc(${MIB})); console.log('wrote'); }
catch (e) { console.log(e.code + ': ' + e.message); }`,
  );
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    child.stdout.on('data', (d: Buffer) => (s += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(s.trim()));
  });
  assert.match(out, /^conflict: .*another realize process is writing/);
  await store.send('a', f, MIB, data.length, data.subarray(MIB));
  await store.finish('a', f, 1_700_000_000_000, b3(data));
  assert.deepEqual(readFileSync(join(root, 'f.bin')), data);
  rmSync(script);
});

/** Bytes that arrive when the test says so. */
function trickle(length: number) {
  let each: ((piece: Buffer) => void) | undefined;
  let end!: () => void;
  const incoming = {
    length,
    consume: (f: (piece: Buffer) => void) =>
      new Promise<void>((resolve) => {
        each = f;
        end = resolve;
      }),
  };
  const ready = async () => {
    while (!each) await new Promise((r) => setImmediate(r));
  };
  return { incoming, feed: async (b: Buffer) => (await ready(), each!(b)), end: () => end() };
}

test('a size change while bytes are still arriving: nothing they wrote is taken on trust', async () => {
  const { root, store } = tempArena();
  const data = randomBytes(4 * MIB);
  await store.send('a', f, 0, data.length, data.subarray(0, 2 * MIB));
  const t = trickle(2 * MIB);
  const sending = store.send('a', f, 2 * MIB, data.length, t.incoming);
  await t.feed(data.subarray(2 * MIB, 3 * MIB));
  await new Promise((r) => setTimeout(r, 50)); // block 2 written
  await store.truncate('a', f, 2 * MIB + MIB / 2); // cuts it
  await store.send('a', f, 0, data.length, data.subarray(0, MIB)); // and the size is back to the one the bytes arriving were for
  await t.feed(data.subarray(3 * MIB));
  t.end();
  await sending;
  // Block 2 is now half zeros: finish must see it, not trust what was written before the cut.
  await rejects(store.finish('a', f, 1_700_000_000_000, b3(data)), 'verify', /hashes to/);
  await store.send('a', f, 2 * MIB, data.length, data.subarray(2 * MIB, 3 * MIB));
  await store.finish('a', f, 1_700_000_000_000, b3(data));
  assert.deepEqual(readFileSync(join(root, 'f.bin')), data);
});

test('finish refuses a partial another request is still writing, and keeps it', async () => {
  const { root, store } = tempArena();
  const data = randomBytes(2 * MIB);
  await store.send('a', f, 0, data.length, data.subarray(0, MIB));
  const t = trickle(MIB);
  const sending = store.send('a', f, MIB, data.length, t.incoming);
  await t.feed(data.subarray(MIB, MIB + 1000));
  await rejects(store.finish('a', f, 1_700_000_000_000, b3(data)), 'conflict', /still being written/);
  await t.feed(data.subarray(MIB + 1000));
  t.end();
  await sending;
  await store.finish('a', f, 1_700_000_000_000, b3(data));
  assert.deepEqual(readFileSync(join(root, 'f.bin')), data);
});
