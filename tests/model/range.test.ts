import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RealizeError } from '../../lib/model/errors.js';
import { ByteRange, ByteRanges, MAX_OFFSET, checkRange, splitRange, splitRanges } from '../../lib/model/range.js';
import { seeded as rng } from '../helpers/random.js';

const SIZE = 200;

function randomRanges(rand: () => number): { set: ByteRanges; bits: boolean[]; parts: ByteRange[] } {
  const bits = new Array<boolean>(SIZE).fill(false);
  const parts: ByteRange[] = [];
  const n = Math.floor(rand() * 8);
  for (let i = 0; i < n; i++) {
    const start = Math.floor(rand() * SIZE);
    const end = Math.min(SIZE, start + Math.floor(rand() * 40));
    parts.push(new ByteRange(start, end));
    for (let b = start; b < end; b++) bits[b] = true;
  }
  return { set: ByteRanges.from(parts), bits, parts };
}

function toBits(set: ByteRanges): boolean[] {
  const bits = new Array<boolean>(SIZE).fill(false);
  for (const r of set) for (let b = r.start; b < r.end; b++) bits[b] = true;
  return bits;
}

function assertNormalized(set: ByteRanges, msg: string): void {
  let prevEnd = -1;
  for (const r of set) {
    assert.ok(r.start < r.end, `empty range in ${set} ${msg}`);
    assert.ok(r.start > prevEnd, `unsorted, overlapping or adjacent ranges in ${set} ${msg}`);
    prevEnd = r.end;
  }
}

test('ByteRanges set operations agree with a bitmap (random property check)', () => {
  for (let seed = 1; seed <= 2000; seed++) {
    const rand = rng(seed);
    const a = randomRanges(rand);
    const b = randomRanges(rand);
    const msg = `(seed ${seed})`;
    const cases: [string, ByteRanges, (x: boolean, y: boolean) => boolean][] = [
      ['union', a.set.union(b.set), (x, y) => x || y],
      ['intersection', a.set.intersection(b.set), (x, y) => x && y],
      ['subtract', a.set.subtract(b.set), (x, y) => x && !y],
    ];
    assert.deepEqual(toBits(a.set), a.bits, `from ${msg}`);
    assertNormalized(a.set, msg);
    for (const [name, result, op] of cases) {
      assertNormalized(result, `${name} ${msg}`);
      assert.deepEqual(toBits(result), a.bits.map((x, i) => op(x, b.bits[i]!)), `${name} ${msg}: ${a.set} / ${b.set} -> ${result}`);
    }
    assert.equal(a.set.totalBytes, a.bits.filter(Boolean).length, msg);
    assert.deepEqual(toBits(a.set.complement(SIZE)), a.bits.map((x) => !x), `complement ${msg}`);
    for (let i = 0; i < 10; i++) {
      const off = Math.floor(rand() * SIZE);
      assert.equal(a.set.contains(off), a.bits[off], `contains(${off}) ${msg}`);
      const r = ByteRange.at(off, Math.floor(rand() * (SIZE - off)));
      const all = a.bits.slice(r.start, r.end).every(Boolean);
      assert.equal(a.set.contains(r), all, `contains(${r}) ${msg}`);
    }
    const bitsB = b.bits;
    assert.equal(a.set.contains(b.set), bitsB.every((y, i) => !y || a.bits[i]), `contains(set) ${msg}`);
    assert.ok(a.set.union(b.set).equals(b.set.union(a.set)), msg);
    // The parts in any order give the same set.
    assert.ok(ByteRanges.from([...a.parts].reverse()).equals(a.set), msg);
  }
});

test('ByteRanges normalizes adjacent and empty ranges, iterates and round-trips JSON', () => {
  const set = ByteRanges.of(new ByteRange(10, 20), new ByteRange(0, 10), new ByteRange(30, 30), new ByteRange(25, 28));
  assert.deepEqual(set.toJSON(), [
    [0, 20],
    [25, 28],
  ]);
  assert.equal(set.count, 2);
  assert.equal(set.totalBytes, 23);
  assert.deepEqual(
    [...set].map((r) => r.length),
    [20, 3],
  );
  assert.equal(String(set.bounds), '[0, 28)');
  assert.ok(ByteRanges.fromJSON(JSON.parse(JSON.stringify(set))).equals(set));
  assert.throws(() => ByteRanges.fromJSON([[5, 1]]), RealizeError);
  assert.throws(() => ByteRanges.fromJSON([[0, 1.5]]), RealizeError);
  assert.throws(() => ByteRanges.fromJSON('nope'), RealizeError);
  assert.ok(ByteRanges.EMPTY.isEmpty);
  assert.equal(ByteRanges.EMPTY.bounds, undefined);
  assert.equal(ByteRanges.EMPTY.contains(new ByteRange(3, 3)), true);
});

test('ByteRange refuses negative, fractional, unsafe and reversed bounds', () => {
  for (const [s, e] of [
    [-1, 3],
    [0, 1.5],
    [0, 2 ** 53],
    [5, 4],
    [NaN, 1],
  ] as [number, number][]) {
    assert.throws(() => new ByteRange(s, e), (err: unknown) => err instanceof RealizeError && err.code === 'path');
  }
  assert.equal(new ByteRange(0, MAX_OFFSET).length, MAX_OFFSET);
});

test('checkRange validates a request range', () => {
  assert.deepEqual(checkRange(10, 5).toJSON(), [10, 15]);
  assert.deepEqual(checkRange(10n, 5n, 15).toJSON(), [10, 15]);
  assert.deepEqual(checkRange(0, 0, 0).toJSON(), [0, 0]);
  const refused: [unknown, unknown, number | undefined, RegExp][] = [
    [-1, 5, undefined, /offset -1/],
    [0, -5, undefined, /length -5/],
    [1.5, 1, undefined, /offset 1.5/],
    ['3', 1, undefined, /offset "3"/],
    [null, 1, undefined, /offset \(null\)/],
    [2 ** 53, 0, undefined, /offset/],
    [MAX_OFFSET, 1, undefined, /beyond 2\^53-1/],
    [2n ** 64n, 1, undefined, /offset/],
    [10, 6, 15, /beyond the end of the file \(15 bytes\)/],
  ];
  for (const [o, l, size, why] of refused) {
    assert.throws(() => checkRange(o, l, size), (e: unknown) => e instanceof RealizeError && e.code === 'path' && why.test(e.message), `${String(o)} ${String(l)}`);
  }
});

test('splitRanges cuts consecutive ranges', () => {
  assert.deepEqual(splitRanges(0, 8), []);
  assert.deepEqual(
    splitRanges(20, 8).map((r) => r.toJSON()),
    [
      [0, 8],
      [8, 16],
      [16, 20],
    ],
  );
  assert.deepEqual(
    splitRanges(16, 8).map((r) => r.toJSON()),
    [
      [0, 8],
      [8, 16],
    ],
  );
  // A range not starting on a boundary is cut at multiples of the size.
  assert.deepEqual(
    splitRange(new ByteRange(5, 20), 8).map((r) => r.toJSON()),
    [
      [5, 8],
      [8, 16],
      [16, 20],
    ],
  );
  assert.throws(() => splitRanges(10, 0), RealizeError);
  const big = splitRanges(3 * 2 ** 40 + 1, 8 * 2 ** 20);
  assert.equal(big.length, 3 * 2 ** 17 + 1);
  assert.equal(big.at(-1)!.end, 3 * 2 ** 40 + 1);
});
