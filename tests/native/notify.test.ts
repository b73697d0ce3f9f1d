// sdNotify: one datagram to $NOTIFY_SOCKET, checked with a python3 receiver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sdNotify } from '../../lib/native.js';
import { RealizeError } from '../../lib/model/errors.js';

/** Binds a datagram socket (a path, or abstract with '@') and prints what it receives. */
const RECEIVER = `
import socket, sys
name = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + name[1:] if name.startswith('@') else name)
print('ready', flush=True)
s.settimeout(10)
print(s.recv(4096).decode(), flush=True)
`;

async function receive(name: string, send: () => boolean): Promise<string> {
  const child = spawn('python3', ['-c', RECEIVER, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.stdout.on('data', (d: string) => {
      out += d;
      if (out.startsWith('ready\n')) resolve();
    });
  });
  assert.equal(send(), true);
  await new Promise((resolve) => child.on('close', resolve));
  return out.slice('ready\n'.length).replace(/\n$/, '');
}

function withSocket<T>(value: string | undefined, f: () => T): T {
  const saved = process.env.NOTIFY_SOCKET;
  if (value === undefined) delete process.env.NOTIFY_SOCKET;
  else process.env.NOTIFY_SOCKET = value;
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env.NOTIFY_SOCKET;
    else process.env.NOTIFY_SOCKET = saved;
  }
}

test('sdNotify returns false when NOTIFY_SOCKET is unset', () => {
  assert.equal(withSocket(undefined, () => sdNotify('READY=1')), false);
  assert.equal(withSocket('', () => sdNotify('READY=1')), false);
});

test('sdNotify sends to a socket path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'realize-notify-'));
  try {
    const path = join(dir, 'notify.sock');
    assert.equal(await receive(path, () => withSocket(path, () => sdNotify('READY=1'))), 'READY=1');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sdNotify sends to an abstract socket', async () => {
  const name = `@realize-test-${process.pid}-${Date.now()}`;
  const got = await receive(name, () => withSocket(name, () => sdNotify('STATUS=serving\nREADY=1')));
  assert.equal(got, 'STATUS=serving\nREADY=1');
});

test('sdNotify failures are one clear error', () => {
  assert.throws(
    () => withSocket('/nonexistent/realize/notify.sock', () => sdNotify('READY=1')),
    (e: RealizeError) => e instanceof RealizeError && /NOTIFY_SOCKET=\/nonexistent\/realize\/notify.sock/.test(e.message),
  );
});
