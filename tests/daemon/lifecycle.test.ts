// realize-serve's life as a process: --stdio sessions over a pipe, readiness
// on $NOTIFY_SOCKET, SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { RemoteFiles } from '../../lib/protocol/realize-service.js';
import { Session } from '../../lib/protocol/session.js';
import { startHousehold } from '../helpers/household.js';
import { BIN_DIR } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { makeTree } from '../helpers/tree.js';

test('--stdio --root serves one session over a pipe and exits 0 when stdin closes', async () => {
  const dir = tempDir();
  makeTree(dir, { 'a.txt': 'alpha', 'sub/b.txt': 'beta' });
  const child = spawn(process.execPath, [BIN_DIR + 'realize-serve.js', '--stdio', '--root', dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const session = new Session(Duplex.from({ readable: child.stdout, writable: child.stdin }), { hello: { peer: 'test', arenas: [] } });
  const hello = await session.ready;
  assert.deepEqual(hello.arenas, ['root']);
  const files = new RemoteFiles(session);
  const listing = await files.list('root');
  assert.deepEqual(listing.files.map((f) => f.path), ['a.txt', 'sub/b.txt']);
  assert.equal((await files.read('root', 'sub/b.txt' as never, 0, 4)).toString(), 'beta');
  const h = await files.hash('root', 'a.txt' as never, 'final');
  assert.match(h.root, /^[0-9a-f]{64}$/);
  session.close();
  assert.equal(await exited, 0);
});

test('--stdio with garbage on stdin: one line on stderr, exit 1', async () => {
  const dir = tempDir();
  const child = spawn(process.execPath, [BIN_DIR + 'realize-serve.js', '--stdio', '--root', dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout.resume();
  child.stdin.end('GET / HTTP/1.1\r\n\r\n');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 1);
  assert.match(err, /^realize-serve: the peer does not speak the Realize protocol/);
  assert.equal(err.trim().split('\n').length, 1);
});

test('readiness on $NOTIFY_SOCKET, SIGTERM exits 0', async () => {
  const dir = tempDir();
  const sock = join(dir, 'notify.sock');
  // A unix datagram receiver, as systemd has: python3, since Node has none.
  const receiver = spawn('python3', ['-c', `import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('bound',flush=True)\nwhile True:\n  print(s.recv(4096).decode(),flush=True)`, sock]);
  let got = '';
  receiver.stdout.setEncoding('utf8').on('data', (d: string) => (got += d));
  while (!got.includes('bound')) await new Promise((r) => setTimeout(r, 20));
  process.env.NOTIFY_SOCKET = sock;
  try {
    const h = await startHousehold(dir);
    const deadline = Date.now() + 10_000;
    while (!got.includes('READY=1') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.match(got, /READY=1/);
    const code = new Promise<number | null>((resolve) => h.serve.on('exit', (c) => resolve(c)));
    h.serve.kill('SIGTERM');
    assert.equal(await code, 0);
    assert.match(h.serveLog(), /SIGTERM: finishing in-flight requests/);
  } finally {
    delete process.env.NOTIFY_SOCKET;
    receiver.kill();
  }
});
