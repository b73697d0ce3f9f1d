// The native pipe stream (transport/pipe.ts) on real pipes: bytes arrive
// whole and in order through enlarged pipes, a slow reader holds the writer
// back instead of losing anything, the far end closing is an end or a
// 'network' error, destroy frees a thread blocked on a silent pipe, and a
// large buffer spliced into a pipe stays alive until it is read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { closeFd, newPipe } from '../../lib/native.js';
import { pipeStream } from '../../lib/transport/pipe.js';
import { RealizeError } from '../../lib/model/errors.js';

/** Two streams joined by two pipes, as a process and its child are. */
function pipePair(): [Duplex, Duplex] {
  const [aIn, bOut] = newPipe();
  const [bIn, aOut] = newPipe();
  return [pipeStream(aIn, aOut), pipeStream(bIn, bOut)];
}

function drain(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

test('a large buffer spliced into the pipe stays intact after its write is done and it is dropped', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // Nobody reads the pipe until the end (a paused pipeStream would not do:
  // its reading thread copies the pipe out at once), so the piece, above the
  // splice threshold and well below the pipe's size, waits in the pipe by
  // reference while its write is reported done.
  const [readEnd, writeEnd] = newPipe();
  const [idleIn, idleOut] = newPipe();
  const a = pipeStream(idleIn, writeEnd);
  t.after(() => {
    a.destroy();
    closeFd(readEnd);
    closeFd(idleOut);
  });
  const n = 300 << 10;
  let piece: Buffer | undefined = Buffer.alloc(n, 0x5a);
  const written = new Promise<boolean>((r) => a.write(piece, () => r(true)));
  assert.ok(await Promise.race([written, new Promise((r) => setTimeout(() => r(false), 5000))]), 'the write was not done');
  // No reference left here: collect it, and hand its memory to new buffers
  // (this test comes first, while the heap has few other free chunks to give).
  piece = undefined;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 30));
  }
  const litter = Array.from({ length: 256 }, () => Buffer.alloc(n, 0xee));
  const got = Buffer.alloc(n);
  for (let at = 0; at < n; ) at += readSync(readEnd, got, at, n - at, null);
  assert.equal(litter.length, 256);
  assert.equal(got.indexOf(0xee), -1, 'bytes changed after their write was done');
  assert.ok(got.equals(Buffer.alloc(n, 0x5a)));
});

test('24 MiB in pieces of every size arrive whole and in order, both ways at once', async () => {
  const [a, b] = pipePair();
  const one = randomBytes(24 << 20);
  const other = randomBytes(5 << 20);
  const gotAtB = drain(b);
  const gotAtA = drain(a);
  for (let i = 0, n = 1; i < one.length; i += n, n = (n * 7 + 13) % (3 << 20)) a.write(one.subarray(i, i + n));
  a.end();
  b.end(other);
  assert.ok((await gotAtB).equals(one));
  assert.ok((await gotAtA).equals(other));
});

test('a reader that stops reading holds the writer back and loses nothing', async () => {
  const [a, b] = pipePair();
  const data = randomBytes(16 << 20);
  let flushed = false;
  a.write(data, () => (flushed = true));
  a.end();
  b.pause();
  await new Promise((r) => setTimeout(r, 300));
  // 16 MiB cannot all fit in the pipe (1 MiB) and the reader's buffer (16 KiB high-water mark, plus what was in flight).
  assert.equal(flushed, false, 'the write completed although nobody read');
  b.resume();
  const got = await drain(b);
  assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
  assert.ok(flushed);
  // b's own side never ended, so a still waits to read: as with a socket, a stream left open keeps the process alive.
  b.destroy();
  a.destroy();
});

test('the far end closing is the end of input; writing to it then fails as a network error', async () => {
  // head reads 10 bytes, prints them and exits: both its pipes close.
  const [childIn, toChild] = newPipe();
  const [fromChild, childOut] = newPipe();
  const head = spawn('head', ['-c', '10'], { stdio: [childIn, childOut, 'ignore'] });
  closeFd(childIn);
  closeFd(childOut);
  const s = pipeStream(fromChild, toChild);
  const got = drain(s).catch((e: unknown) => e);
  const failed = new Promise<unknown>((resolve) => s.on('error', resolve));
  s.write('0123456789abcdef');
  await new Promise((r) => head.on('exit', r));
  for (let i = 0; i < 64; i++) s.write(Buffer.alloc(64 << 10));
  const err = await failed;
  assert.ok(err instanceof RealizeError && err.code === 'network', `got ${String(err)}`);
  assert.match(String((err as Error).message), /broken pipe/i);
  const out = await got;
  assert.ok(Buffer.isBuffer(out) ? out.toString() === '0123456789' : out === err);
});

test('destroy frees a stream waiting on a silent pipe', async () => {
  const [silentIn, keepOpen] = newPipe();
  const [sink, out] = newPipe();
  const s = pipeStream(silentIn, out);
  let ended = false;
  s.on('data', () => {});
  s.on('end', () => (ended = true));
  const closed = new Promise((r) => s.on('close', r));
  s.destroy();
  await closed;
  assert.equal(ended, false);
  closeFd(keepOpen);
  closeFd(sink);
  // The test ends: no thread is left holding the event loop.
});
