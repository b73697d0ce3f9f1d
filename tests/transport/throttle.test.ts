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

test('a throttled stream delivers every byte, no faster than the limit in each direction', async () => {
  const [a, b] = duplexPair();
  const rate = 512 * 1024;
  const slow = throttle(a, rate, rate);
  const payload = Buffer.from(Array.from({ length: 768 * 1024 }, (_, i) => (i * 7) & 0xff));

  const t0 = Date.now();
  const received: Buffer[] = [];
  const got = new Promise<void>((resolve) => {
    let n = 0;
    b.on('data', (d: Buffer) => {
      received.push(d);
      n += d.length;
      if (n >= payload.length) resolve();
    });
  });
  for (let i = 0; i < payload.length; i += 64 * 1024) slow.write(payload.subarray(i, i + 64 * 1024));
  await got;
  const up = (Date.now() - t0) / 1000;
  assert.ok(Buffer.concat(received).equals(payload));
  assert.ok(up >= 1.2, `sent 768 KiB at 512 KiB/s in ${up} s`);

  const t1 = Date.now();
  const back: Buffer[] = [];
  const down = new Promise<void>((resolve) => {
    let n = 0;
    slow.on('data', (d: Buffer) => {
      back.push(d);
      n += d.length;
      if (n >= payload.length) resolve();
    });
  });
  b.write(payload);
  await down;
  const secs = (Date.now() - t1) / 1000;
  assert.ok(Buffer.concat(back).equals(payload));
  assert.ok(secs >= 1.2, `received 768 KiB at 512 KiB/s in ${secs} s`);
  // Tearing the pair down aborts its halves; that is expected here.
  for (const s of [slow, a, b]) s.on('error', () => {});
  slow.destroy();
  b.destroy();
});
