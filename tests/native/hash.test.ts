// The BLAKE3 hash tree through the JS API, against b3sum on real files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as realize from '../../lib/index.js';
import { BLOCK_SIZE, hashBlocks, hashFile, rootFromBlocks, verifyBlocks } from '../../lib/native.js';
import { RealizeError } from '../../lib/model/errors.js';

const run = promisify(execFile);
const MIB = 1 << 20;
const SIZES = [0, 1, 1023, 1024, 1025, MIB - 1, MIB, MIB + 1, 3 * MIB + 5, 64 * MIB + 7];

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'realize-hash-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function b3sum(path: string): Promise<string> {
  const { stdout } = await run('b3sum', ['--no-names', path]);
  return stdout.trim();
}

function blockCount(size: number): number {
  return size <= MIB ? 1 : Math.ceil(size / MIB);
}

test('the package entry exports the hash functions', () => {
  assert.equal(realize.hashFile, hashFile);
  assert.equal(realize.verifyBlocks, verifyBlocks);
  assert.equal(realize.BLOCK_SIZE, 1048576);
});

for (const size of SIZES) {
  test(`hashFile equals b3sum for ${size} bytes`, async () => {
    const path = join(dir, `f${size}`);
    await writeFile(path, randomBytes(size));
    const h = await hashFile(path);
    assert.equal(h.root, await b3sum(path));
    assert.match(h.root, /^[0-9a-f]{64}$/);
    assert.equal(h.blockSize, BLOCK_SIZE);
    assert.equal(h.size, size);
    assert.equal(h.blocks.length, blockCount(size));
    if (size <= MIB) assert.deepEqual(h.blocks, [h.root]);
    for (const b of h.blocks) assert.match(b, /^[0-9a-f]{64}$/);

    assert.equal(rootFromBlocks(size, h.blocks), h.root);
    assert.ok(verifyBlocks(h.root, size, h.blocks));
    const n = h.blocks.length;
    assert.deepEqual(await hashBlocks(path, 0, n), h.blocks);
    assert.deepEqual(await hashBlocks(path, n - 1, 10), h.blocks.slice(n - 1));
    assert.deepEqual(await hashBlocks(path, n, 1), []);
    if (n > 2) assert.deepEqual(await hashBlocks(path, 1, 2), h.blocks.slice(1, 3));
  });
}

test('a flipped byte is located to its block', async () => {
  const size = 9 * MIB + 100;
  const data = randomBytes(size);
  const path = join(dir, 'flip');
  await writeFile(path, data);
  const before = await hashFile(path);
  const at = 6 * MIB + 4321;
  data[at] ^= 0x40;
  await writeFile(path, data);
  const afterFlip = await hashFile(path);
  assert.equal(afterFlip.root, await b3sum(path));
  const differ = before.blocks.flatMap((b, i) => (b === afterFlip.blocks[i] ? [] : [i]));
  assert.deepEqual(differ, [Math.floor(at / MIB)]);
  assert.equal(verifyBlocks(before.root, size, afterFlip.blocks), false);
  // The changed block alone, re-hashed, is what the new list holds.
  assert.deepEqual(await hashBlocks(path, 6, 1), [afterFlip.blocks[6]]);
  // Splicing the new block into the old list gives the new root.
  const spliced = [...before.blocks];
  spliced[6] = afterFlip.blocks[6]!;
  assert.equal(rootFromBlocks(size, spliced), afterFlip.root);
});

test('block lists that do not fit the size are refused', async () => {
  const path = join(dir, 'three');
  await writeFile(path, randomBytes(3 * MIB));
  const h = await hashFile(path);
  assert.throws(() => rootFromBlocks(3 * MIB, h.blocks.slice(0, 2)), /a file of 3145728 bytes has 3 block hash\(es\), got 2/);
  assert.throws(() => rootFromBlocks(0, []), RealizeError);
  assert.equal(verifyBlocks(h.root, 3 * MIB, h.blocks.slice(0, 2)), false);
  assert.equal(verifyBlocks(h.root, 2 * MIB, h.blocks), false);
  assert.equal(verifyBlocks(h.root, 4 * MIB + 1, h.blocks), false);
  assert.throws(() => verifyBlocks('xyz', 3 * MIB, h.blocks), /not 64 hex digits/);
  assert.throws(() => rootFromBlocks(3 * MIB, [h.blocks[0]!, 'nope', h.blocks[2]!]), /hash #1 is not 64 hex digits/);
});

test('directories, missing files and bad numbers are RealizeErrors', async () => {
  await mkdir(join(dir, 'sub'), { recursive: true });
  await assert.rejects(hashFile(join(dir, 'sub')), (e: RealizeError) => e.code === 'io' && /is a directory, not a regular file/.test(e.message));
  await assert.rejects(hashFile(join(dir, 'missing')), (e: RealizeError) => e.code === 'not_found' && e.message.includes('missing'));
  for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 54]) {
    await assert.rejects(hashBlocks(join(dir, 'f1'), bad, 1), (e: RealizeError) => e.code === 'path');
  }
  assert.throws(() => rootFromBlocks(-5, []), /fileSize must be a non-negative integer/);
});

test('hashing runs off the JS thread', async () => {
  const path = join(dir, 'big');
  await writeFile(path, randomBytes(64 * MIB + 7));
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  await hashFile(path);
  clearInterval(timer);
  assert.ok(ticks > 0, 'the event loop kept turning while hashing');
});
