// Rolling-hash deltas through the JS API on real files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_DELTA_WINDOW, applyDeltaTo, deltaInfo, diff, hashFile, signature, type ExpectedBlocks } from '../../lib/native.js';
import { RealizeError } from '../../lib/model/errors.js';

const KIB = 1024;
const MIB = 1 << 20;

let dir: string;
let basePath: string;
let newPath: string;
let base: Buffer;
let next: Buffer;
let baseBlocks: string[];
let nextBlocks: string[];

/** What a delta's output of `length` bytes at `offset` (a block boundary) of `next` must hash to. */
function nextAt(offset: number, length: number): ExpectedBlocks {
  const first = offset / MIB;
  return { firstBlock: first, fileSize: next.length, blocks: nextBlocks.slice(first, first + Math.ceil(length / MIB)) };
}

/** The bytes applyDeltaTo writes: applied into an empty scratch file, read back. */
async function applyDelta(base: string, delta: Buffer, maxOutput: number, expect: ExpectedBlocks): Promise<Buffer> {
  const out = await open(join(dir, 'out'), 'w+');
  try {
    await applyDeltaTo(base, delta, maxOutput, expect, out.fd, 0);
    return await out.readFile();
  } finally {
    await out.close();
  }
}

/** The one value of an empty file. */
const EMPTY: ExpectedBlocks = { firstBlock: 0, fileSize: 0, blocks: ['af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'] };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'realize-delta-'));
  base = randomBytes(12 * MIB + 333);
  // Insert 64 KiB near the start, overwrite 26 KiB twice, delete 10 KiB.
  next = Buffer.concat([base.subarray(0, 5000), randomBytes(64 * KIB), base.subarray(5000)]);
  randomBytes(26 * KIB).copy(next, 3 * MIB);
  randomBytes(26 * KIB).copy(next, 9 * MIB + 77);
  next = Buffer.concat([next.subarray(0, 7 * MIB), next.subarray(7 * MIB + 10 * KIB)]);
  basePath = join(dir, 'base');
  newPath = join(dir, 'new');
  await writeFile(basePath, base);
  await writeFile(newPath, next);
  baseBlocks = (await hashFile(basePath)).blocks;
  nextBlocks = (await hashFile(newPath)).blocks;
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Range by range, as the sync does: signature of a wider window, diff, apply. */
async function transfer(range: number, margin: number): Promise<{ out: Buffer; wire: number }> {
  const parts: Buffer[] = [];
  let wire = 0;
  for (let off = 0; off < next.length; off += range) {
    const winStart = Math.max(0, off - margin);
    const sig = await signature(basePath, winStart, off + range + margin - winStart);
    const delta = await diff(newPath, off, range, sig);
    const info = deltaInfo(delta);
    assert.equal(info.windowOffset, winStart);
    assert.equal(info.outputLength, Math.min(range, next.length - off));
    parts.push(await applyDelta(basePath, delta, range, nextAt(off, info.outputLength)));
    wire += sig.length + delta.length;
  }
  return { out: Buffer.concat(parts), wire };
}

test('ranges round-trip with edits, an insertion and a deletion', async () => {
  const { out, wire } = await transfer(4 * MIB, 128 * KIB);
  assert.ok(out.equals(next));
  // Literal bytes: 64 KiB + 2 x 26 KiB plus a few blocks; signatures ~6 bytes per 3 KiB.
  assert.ok(wire < 200 * KIB, `wire ${wire}`);
});

test('identical ranges cost a signature and a tiny delta', async () => {
  const sig = await signature(basePath, 0, 8 * MIB);
  const delta = await diff(basePath, 0, 8 * MIB, sig);
  assert.ok(delta.length < 100, `delta ${delta.length}`);
  const expect = { firstBlock: 0, fileSize: base.length, blocks: baseBlocks.slice(0, 8) };
  assert.ok((await applyDelta(basePath, delta, 8 * MIB, expect)).equals(base.subarray(0, 8 * MIB)));
});

test('a limit: a delta that would reach it is given up, one under it is the same as without', async () => {
  const sig = await signature(basePath, 0, 8 * MIB);
  const same = await diff(basePath, 0, 8 * MIB, sig, 8 * MIB);
  assert.ok(same?.equals(await diff(basePath, 0, 8 * MIB, sig)));
  const fresh = join(dir, 'fresh');
  await writeFile(fresh, randomBytes(8 * MIB));
  assert.ok((await diff(fresh, 0, 8 * MIB, sig)).length > 8 * MIB);
  assert.equal(await diff(fresh, 0, 8 * MIB, sig, 8 * MIB), undefined);
  await assert.rejects(diff(fresh, 0, 8 * MIB, sig, -1), (e: RealizeError) => e.code === 'path');
});

test('empty ranges and ranges past the end', async () => {
  const sig = await signature(basePath, base.length + 10, 100);
  assert.equal(deltaInfo(await diff(newPath, 0, 0, sig)).outputLength, 0);
  const last = Math.floor(next.length / MIB) * MIB;
  const delta = await diff(newPath, last, MIB, sig);
  assert.ok((await applyDelta(basePath, delta, MIB, nextAt(last, next.length - last))).equals(next.subarray(last)));
  const empty = await diff(newPath, next.length + 5, 100, await signature(basePath, 0, 0));
  assert.equal((await applyDelta(basePath, empty, 0, EMPTY)).length, 0);
});

test('signature options are honoured and checked', async () => {
  const small = await signature(basePath, 0, MIB, { blockLength: 1024, strongLength: 4 });
  assert.equal(small.length, 25 + 1024 * 8);
  await assert.rejects(signature(basePath, 0, MIB, { blockLength: 10 }), /block length 10 outside/);
  await assert.rejects(signature(basePath, 0, MAX_DELTA_WINDOW + 1), /exceeds the 67108864-byte cap/);
});

test('corrupt, truncated and hostile inputs are RealizeErrors', async () => {
  const sig = await signature(basePath, 0, 2 * MIB);
  const protocol = (e: RealizeError) => e instanceof RealizeError && e.code === 'protocol';
  await assert.rejects(diff(newPath, 0, MIB, sig.subarray(0, sig.length - 1)), protocol);
  await assert.rejects(diff(newPath, 0, MIB, randomBytes(1000)), protocol);
  await assert.rejects(diff(newPath, 0, MIB, Buffer.alloc(0)), protocol);
  await assert.rejects(diff(newPath, 0, MAX_DELTA_WINDOW + 1, sig), (e: RealizeError) => e.code === 'path');

  const delta = await diff(newPath, 0, 2 * MIB, sig);
  const expect = nextAt(0, 2 * MIB);
  await assert.rejects(applyDelta(basePath, delta.subarray(0, delta.length - 1), 2 * MIB, expect), protocol);
  await assert.rejects(applyDelta(basePath, randomBytes(500), 2 * MIB, expect), protocol);
  await assert.rejects(applyDelta(basePath, delta, 2 * MIB - 1, expect), /more than the 2097151 allowed/);
  const flipped = Buffer.from(delta);
  flipped[flipped.length - 10]! ^= 1; // inside the last literal or copy
  await assert.rejects(applyDelta(basePath, flipped, 2 * MIB, expect), RealizeError);
  assert.throws(() => deltaInfo(Buffer.from('RZD1')), protocol);
  for (let i = 0; i < 200; i++) {
    const junk = Buffer.concat([delta.subarray(0, 60), randomBytes(i)]);
    await assert.rejects(applyDelta(basePath, junk, 2 * MIB, expect), RealizeError);
  }
});

test('a base that changed since its signature is refused', async () => {
  const path = join(dir, 'moving');
  await writeFile(path, base.subarray(0, 2 * MIB));
  const sig = await signature(path, 0, 2 * MIB);
  const delta = await diff(newPath, 0, 2 * MIB, sig);
  const changed = Buffer.from(base.subarray(0, 2 * MIB));
  changed[MIB] ^= 1;
  await writeFile(path, changed);
  await assert.rejects(applyDelta(path, delta, 2 * MIB, nextAt(0, 2 * MIB)), (e: RealizeError) => e.code === 'verify');
  await writeFile(path, base.subarray(0, MIB));
  await assert.rejects(applyDelta(path, delta, 2 * MIB, nextAt(0, 2 * MIB)), (e: RealizeError) => e.code === 'verify' && /base file has/.test(e.message));
});

test('an output whose block values are not the ones expected is refused before anything is written', async () => {
  const sig = await signature(basePath, 0, 2 * MIB);
  const delta = await diff(newPath, 0, 2 * MIB, sig);
  const wrong = nextAt(0, 2 * MIB);
  wrong.blocks = [wrong.blocks[0]!, baseBlocks[1]!];
  const out = await open(join(dir, 'untouched'), 'w+');
  await assert.rejects(applyDeltaTo(basePath, delta, 2 * MIB, wrong, out.fd, 0), (e: RealizeError) => e.code === 'verify');
  assert.equal((await out.stat()).size, 0);
  await out.close();
  await assert.rejects(applyDelta(basePath, delta, 2 * MIB, { ...wrong, blocks: wrong.blocks.slice(0, 1) }), RealizeError);
});
