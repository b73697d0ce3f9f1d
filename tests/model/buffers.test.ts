// The pool of large buffers ranges are read into (model/buffers.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from '../../lib/model/buffers.js';

test('a buffer given back is taken again for a size it can hold, not for a larger one', () => {
  const pool = new BufferPool(2);
  const b = pool.take(1000);
  pool.give(b);
  assert.equal(pool.take(2000) === b, false);
  assert.equal(pool.take(500), b);
});

test('a full pool keeps its largest buffers: small tails do not push out full ranges', () => {
  const pool = new BufferPool(2);
  const [big1, big2, small] = [pool.take(8 << 20), pool.take(8 << 20), pool.take(4096)];
  pool.give(small);
  pool.give(big1);
  pool.give(big2);
  const again = [pool.take(8 << 20), pool.take(8 << 20)];
  assert.ok(again.includes(big1) && again.includes(big2), 'both 8 MiB buffers were kept');
  pool.give(big1);
  pool.give(big2);
  pool.give(Buffer.alloc(100));
  assert.ok([pool.take(8 << 20), pool.take(8 << 20)].every((b) => b === big1 || b === big2), 'a small buffer displaced a large one');
});
