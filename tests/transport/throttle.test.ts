// Bandwidth limits per direction: bytes still arrive intact and in order, and
// no faster than the limit allows (a lower bound only: a slow machine passes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bucket, throttle } from '../../lib/transport/throttle.js';
import { duplexPair } from '../helpers/pair.js';

test('the bucket spaces bytes out at the rate, with a small burst', () => {
  const b = new Bucket(1000, 100);
  assert.equal(b.take(100, 0), 0, 'the first 100 ms worth pass at once');
  assert.equal(b.take(1000, 0), 1000);
  assert.equal(b.take(500, 1000), 500);
});

/** The first `n` bytes `stream` emits. */
function receive(stream: NodeJS.ReadableStream, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    stream.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= n) resolve(Buffer.concat(chunks));
    });
  });
}

test('a throttled stream delivers every byte, no faster than the limit in each direction', async () => {
  const [a, b] = duplexPair();
  const rate = 512 * 1024;
  const slow = throttle(a, rate, rate);
  const payload = Buffer.from(Array.from({ length: 768 * 1024 }, (_, i) => (i * 7) & 0xff));

  let t = Date.now();
  let got = receive(b, payload.length);
  for (let i = 0; i < payload.length; i += 64 * 1024) slow.write(payload.subarray(i, i + 64 * 1024));
  assert.ok((await got).equals(payload));
  const up = (Date.now() - t) / 1000;
  assert.ok(up >= 1.2, `sent 768 KiB at 512 KiB/s in ${up} s`);

  t = Date.now();
  got = receive(slow, payload.length);
  b.write(payload);
  assert.ok((await got).equals(payload));
  const down = (Date.now() - t) / 1000;
  assert.ok(down >= 1.2, `received 768 KiB at 512 KiB/s in ${down} s`);
  // Tearing the pair down aborts its halves; that is expected here.
  for (const s of [slow, a, b]) s.on('error', () => {});
  slow.destroy();
  b.destroy();
});
