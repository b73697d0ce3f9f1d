import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { Session, handlerOf, streamed, type Handler } from '../../lib/protocol/session.js';
import { RealizeError } from '../../lib/model/errors.js';
import { duplexPair } from '../helpers/pair.js';
import { Kind, MAX_META, encodeFrame, encodePreamble } from '../../lib/protocol/frame.js';

function connect(handler: Handler) {
  const [a, b] = duplexPair();
  const server = new Session(a, { hello: { peer: 'server', arenas: ['photos'] }, handler });
  const client = new Session(b, { hello: { peer: 'client', arenas: [] } });
  return { server, client };
}

test("hello tells each side the other peer, its arenas and its machine's host name", async () => {
  const { server, client } = connect(async () => ({}));
  assert.deepEqual(await client.ready, { peer: 'server', arenas: ['photos'], host: hostname() });
  assert.deepEqual(await server.ready, { peer: 'client', arenas: [], host: hostname() });
  client.close();
});

test('many requests in flight, answered out of order, bulk bytes intact', async () => {
  const handler: Handler = async (method, args, bulk) => {
    const n = (args as { n: number }).n;
    await new Promise((r) => setTimeout(r, (20 - n) * 2));
    return { result: { method, n }, bulk: Buffer.concat([bulk.buffer(), Buffer.from([n])]) };
  };
  const { client } = connect(handler);
  const calls = Array.from({ length: 20 }, (_, n) => client.call('echo', { n }, { bulk: Buffer.alloc(100_000 + n, n) }));
  const replies = await Promise.all(calls);
  replies.forEach((r, n) => {
    assert.deepEqual(r.result, { method: 'echo', n });
    const bulk = r.bulk.buffer();
    assert.equal(bulk.length, 100_001 + n);
    assert.equal(bulk[100_000 + n], n);
    assert.equal(bulk[0], n);
  });
  assert.ok(client.bytesSent > 20 * 100_000);
  client.close();
});

test('errors cross with their code and message; the session goes on', async () => {
  const { client } = connect(async (method) => {
    if (method === 'bad') throw new RealizeError('no_space', 'I/O error: no space left on device');
    return { result: 'ok' };
  });
  await assert.rejects(client.call('bad', {}), (e: RealizeError) => e.code === 'no_space' && /no space/.test(e.message));
  assert.equal((await client.call('good', {})).result, 'ok');
  client.close();
});

test('a reply too large for a frame is answered as an error; the session goes on', async () => {
  const { client } = connect(async (method) => ({ result: method === 'huge' ? 'x'.repeat(MAX_META + 1) : 'ok' }));
  await assert.rejects(client.call('huge', {}), (e: RealizeError) => e.code === 'protocol' && /over the \d+-byte limit/.test(e.message));
  assert.equal((await client.call('small', {})).result, 'ok');
  client.close();
});

test('a streamed method takes its bulk as it arrives; one that fails first leaves the session in step', async () => {
  const handler = handlerOf({
    put: streamed(async (a, bulk) => {
      if (a.refuse) throw new RealizeError('path', 'refused before reading');
      let n = 0;
      await bulk.consume((p) => (n += p.length));
      return { result: n };
    }),
    echo: async (_a, bulk) => ({ bulk: bulk.buffer() }),
  });
  const { client } = connect(handler);
  const big = Buffer.alloc(3 << 20, 7);
  assert.equal((await client.call('put', {}, { bulk: big })).result, big.length);
  await assert.rejects(client.call('put', { refuse: true }, { bulk: big }), (e: RealizeError) => e.code === 'path');
  const echoed = await client.call('echo', {}, { bulk: Buffer.from('still in step') });
  assert.equal(echoed.bulk.buffer().toString(), 'still in step');
  client.close();
});

test('a peer that goes silent in the middle of a streamed request: the session ends, the request learns why', async () => {
  const [a, b] = duplexPair();
  b.on('error', () => {}); // torn down from the server's side
  let consumed: Promise<unknown> | undefined;
  const handler = handlerOf({
    put: streamed(async (_a, bulk) => {
      consumed = bulk.consume(() => {});
      await consumed;
      return {};
    }),
  });
  const server = new Session(a, { hello: { peer: 'server', arenas: [] }, handler, stallMs: 200 });
  const closed = new Promise<RealizeError | undefined>((resolve) => server.on('close', resolve));
  // The client's side, by hand: its hello, then a request whose bulk stops after 10 of 1000 bytes.
  const frame = Buffer.concat(encodeFrame(Kind.Request, 1, { method: 'put', args: {} }, Buffer.alloc(1000)));
  b.write(Buffer.concat([encodePreamble(), ...encodeFrame(Kind.Hello, 0, { peer: 'client', arenas: [] }), frame.subarray(0, frame.length - 990)]));
  const alive = setTimeout(() => {}, 5000); // the stall watch is unref'd: keep the loop up
  const err = await closed;
  clearTimeout(alive);
  assert.equal(err?.code, 'network');
  assert.match(err!.message, /no data for 0 s in the middle of a request/);
  await assert.rejects(consumed!, (e: RealizeError) => e.code === 'network');
});

test('events stream before the response; cancel stops a subscription', async () => {
  let cancelled = false;
  const { client } = connect(async (method, _args, _bulk, ctx) => {
    if (method === 'pages') {
      for (let i = 0; i < 3; i++) ctx.emit({ page: i });
      return { result: 'done' };
    }
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    cancelled = true;
    return {};
  });
  const pages: unknown[] = [];
  const r = await client.call('pages', {}, { onEvent: (e) => pages.push(e) });
  assert.equal(r.result, 'done');
  assert.deepEqual(pages, [{ page: 0 }, { page: 1 }, { page: 2 }]);
  const ac = new AbortController();
  const sub = client.call('subscribe', {}, { signal: ac.signal });
  setTimeout(() => ac.abort(), 20);
  await assert.rejects(sub, (e: RealizeError) => e.code === 'interrupted');
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(cancelled, 'the server saw the cancel');
  client.close();
});

test('a side without a handler refuses requests', async () => {
  const { server } = connect(async () => ({}));
  await assert.rejects(server.call('list', {}), (e: RealizeError) => e.code === 'auth');
  server.close();
});

test('a dropped connection fails pending calls with a network error', async () => {
  const { server, client } = connect(() => new Promise(() => {}));
  const pending = client.call('hang', {});
  await server.ready;
  server.close();
  await assert.rejects(pending, (e: RealizeError) => e.code === 'network');
});
