import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bulk, FrameDecoder, Kind, MAX_FRAME, encodeFrame, encodePreamble } from '../../lib/protocol/frame.js';
import { joinAdjacent } from '../../lib/model/buffers.js';
import { RealizeError } from '../../lib/model/errors.js';

function wire(...frames: Buffer[][]): Buffer {
  return Buffer.concat([encodePreamble(), ...frames.flat()]);
}

test('frames survive being cut at every byte boundary', () => {
  const bulk = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
  const bytes = wire(encodeFrame(Kind.Request, 7, { method: 'read', args: { a: 1 } }, bulk), encodeFrame(Kind.Response, 8, null));
  for (let cut = 0; cut <= bytes.length; cut++) {
    const d = new FrameDecoder();
    const frames = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
    assert.equal(frames.length, 2, `cut at ${cut}`);
    assert.equal(frames[0]!.kind, Kind.Request);
    assert.equal(frames[0]!.id, 7);
    assert.deepEqual(frames[0]!.meta, { method: 'read', args: { a: 1 } });
    assert.ok(frames[0]!.bulk.buffer().equals(bulk));
    assert.equal(frames[1]!.id, 8);
    assert.equal(frames[1]!.bulk.length, 0);
  }
});

test('bytes that are not the protocol are refused at once, naming what came', () => {
  const d = new FrameDecoder();
  assert.throws(() => d.push(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')), (e: RealizeError) => e.code === 'protocol' && /does not speak the Realize protocol.*SSH-2.0/.test(e.message));
});

test('a version mismatch is a clear error', () => {
  const d = new FrameDecoder();
  assert.throws(() => d.push(encodePreamble(99)), /version mismatch: the peer speaks version 99/);
});

test('an oversized frame is refused from its header, before its body arrives', () => {
  const d = new FrameDecoder();
  const head = Buffer.alloc(4);
  head.writeUInt32BE(MAX_FRAME + 1);
  assert.throws(() => d.push(Buffer.concat([encodePreamble(), head])), (e: RealizeError) => e.code === 'protocol' && /over the/.test(e.message));
});

test('corrupt frames are protocol errors, not crashes', () => {
  const cases: Buffer[] = [];
  const good = encodeFrame(Kind.Request, 1, { x: 1 });
  const badKind = Buffer.concat(good);
  badKind.writeUInt8(77, 4);
  cases.push(badKind);
  const badMeta = Buffer.concat(good);
  badMeta.writeUInt32BE(1000, 9);
  cases.push(badMeta);
  const notJson = Buffer.concat(good);
  notJson.write('x', 13);
  cases.push(notJson);
  for (const c of cases) {
    const d = new FrameDecoder();
    assert.throws(() => d.push(Buffer.concat([encodePreamble(), c])), (e: RealizeError) => e instanceof RealizeError && e.code === 'protocol');
  }
});

test('random garbage never throws anything but a protocol error', () => {
  for (let i = 0; i < 2000; i++) {
    const d = new FrameDecoder();
    const junk = Buffer.from(Array.from({ length: 1 + (i % 64) }, () => Math.floor(Math.random() * 256)));
    const input = i % 2 ? Buffer.concat([encodePreamble(), junk]) : junk;
    try {
      d.push(input);
    } catch (e) {
      assert.ok(e instanceof RealizeError && e.code === 'protocol', String(e));
    }
  }
});

test('bulk sent in pieces and received in small chunks keeps its bytes, in the pieces they arrived in', () => {
  const pieces = [Buffer.alloc(1000, 1), Buffer.alloc(0), Buffer.alloc(3001, 2), Buffer.alloc(17, 3)];
  const bytes = wire(encodeFrame(Kind.Request, 1, { method: 'send' }, pieces), encodeFrame(Kind.Request, 2, { method: 'x' }, Buffer.alloc(5, 9)));
  const d = new FrameDecoder();
  const frames = [];
  for (let i = 0; i < bytes.length; i += 64) frames.push(...d.push(bytes.subarray(i, i + 64)));
  assert.equal(frames.length, 2);
  const bulk = frames[0]!.bulk;
  assert.equal(bulk.length, 4018);
  assert.ok(bulk.chunks.length > 1, 'not joined on arrival');
  assert.ok(bulk.buffer().equals(Buffer.concat(pieces)));
  assert.ok(frames[1]!.bulk.buffer().equals(Buffer.alloc(5, 9)));
});

test('a streamed request is handed over once its metadata is in; its bulk follows piece by piece, then the next frame', async () => {
  const bulk = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff));
  const bytes = wire(encodeFrame(Kind.Request, 1, { method: 'send', args: {} }, bulk), encodeFrame(Kind.Request, 2, { method: 'read', args: {} }, Buffer.from('after')));
  for (const step of [1, 13, 64, 999, bytes.length]) {
    const d = new FrameDecoder(MAX_FRAME, (kind, meta) => kind === Kind.Request && (meta as { method: string }).method === 'send');
    const frames = [];
    for (let at = 0; at < bytes.length; at += step) frames.push(...d.push(bytes.subarray(at, at + step)));
    assert.equal(frames.length, 2, `step ${step}`);
    const streamed = frames[0]!.bulk;
    assert.equal(streamed.length, bulk.length);
    const got: Buffer[] = [];
    await streamed.consume((p) => got.push(Buffer.from(p)));
    assert.ok(Buffer.concat(got).equals(bulk), `step ${step}`);
    assert.equal(frames[1]!.bulk.buffer().toString(), 'after');
  }
  // Handed over before the bulk is in: consume waits for it, in order.
  const d = new FrameDecoder(MAX_FRAME, () => true);
  const cut = bytes.length - 200;
  const [first] = d.push(bytes.subarray(0, 40 + 13 + 30));
  assert.equal(first!.bulk.complete, false);
  assert.throws(() => first!.bulk.chunks, /still arriving/);
  const got: Buffer[] = [];
  const done = first!.bulk.consume((p) => got.push(Buffer.from(p)));
  d.push(bytes.subarray(40 + 13 + 30, cut));
  d.push(bytes.subarray(cut));
  await done;
  assert.ok(Buffer.concat(got).equals(bulk));
});

test('a streamed bulk whose consumer fails rejects at once, drops the rest, and the frames after it still decode', async () => {
  const bulk = Buffer.alloc(4096, 1);
  const bytes = wire(encodeFrame(Kind.Request, 1, { method: 'send' }, bulk), encodeFrame(Kind.Request, 2, { method: 'x' }));
  const d = new FrameDecoder(MAX_FRAME, (_k, meta) => (meta as { method: string }).method === 'send');
  const [streamed] = d.push(bytes.subarray(0, 100));
  let calls = 0;
  const done = streamed!.bulk.consume(() => {
    calls++;
    throw new RealizeError('no_space', 'disk full');
  });
  await assert.rejects(done, (e: RealizeError) => e.code === 'no_space');
  const rest = d.push(bytes.subarray(100));
  assert.equal(calls, 1);
  assert.deepEqual(rest.map((f) => f.id), [2]);
  // A session that closes mid-bulk fails the consumer rather than leaving it waiting.
  const e = new FrameDecoder(MAX_FRAME, () => true);
  const [open] = e.push(bytes.subarray(0, 100));
  const waiting = open!.bulk.consume(() => {});
  e.abort(new RealizeError('network', 'the connection closed'));
  await assert.rejects(waiting, (err: RealizeError) => err.code === 'network');
});

test('a bulk cut into parts: views where a part is inside one piece, copies where it spans pieces', () => {
  // Not from Node's shared pool, which small copies come from too.
  const whole = Buffer.alloc(40);
  whole.forEach((_, i) => (whole[i] = i));
  const pieces = [whole.subarray(0, 10), whole.subarray(10, 13), whole.subarray(13, 40)];
  const bulk = new Bulk(pieces);
  const lengths = [4, 0, 6, 5, 20, 5];
  const parts = bulk.parts(lengths);
  assert.deepEqual(parts.map((p) => p.length), lengths);
  assert.deepEqual(Buffer.concat(parts), whole);
  assert.equal(parts[0]!.buffer, whole.buffer, 'inside the first piece: a view');
  assert.equal(parts[4]!.byteOffset, whole.byteOffset + 15, 'inside the last piece: a view');
  assert.notEqual(parts[3]!.buffer, whole.buffer, 'across pieces: a copy');
});

test('adjacent views of one memory are joined into one piece, others kept apart', () => {
  // Each its own memory (pooled ones may happen to lie side by side).
  const a = Buffer.alloc(8, 'abcdefgh');
  const b = Buffer.alloc(3, 'xyz');
  const joined = joinAdjacent([a.subarray(0, 3), a.subarray(3, 3), a.subarray(3, 8), b, a.subarray(0, 2)]);
  assert.deepEqual(joined.map((p) => p.toString()), ['abcdefgh', 'xyz', 'ab']);
  assert.equal(joined[0]!.buffer, a.buffer, 'joined without a copy');
});
