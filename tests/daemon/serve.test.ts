// realize-serve in listening mode: a real process, real SSH on loopback,
// OpenSSH's ssh and ssh-keyscan as independent clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync, readFileSync, appendFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { loadConfig } from '../../lib/config/index.js';
import { RealizeError } from '../../lib/model/errors.js';
import { generateKeyPair } from '../../lib/model/keys.js';
import { RemoteFiles } from '../../lib/protocol/realize-service.js';
import { Session } from '../../lib/protocol/session.js';
import { encodePreamble } from '../../lib/protocol/frame.js';
import { dialSsh } from '../../lib/transport/ssh-client.js';
import { startHousehold, type Household } from '../helpers/household.js';
import { runBin } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const dir = tempDir();
let h: Household;

before(async () => {
  h = await startHousehold(dir, { arenas: ['photos', 'secret'], granted: ['photos'] });
  writeFileSync(join(h.arenas.photos!, 'hello.txt'), 'hello');
  writeFileSync(join(h.arenas.secret!, 'diary.txt'), 'secret');
  mkdirSync(join(dir, 'outside'));
  writeFileSync(join(dir, 'outside', 'loot.txt'), 'loot');
  symlinkSync(join(dir, 'outside'), join(h.arenas.photos!, 'linkdir'));
  symlinkSync(join(dir, 'outside', 'loot.txt'), join(h.arenas.photos!, 'link.txt'));
});

after(async () => {
  await h.stop();
});

async function openSession(): Promise<{ session: Session; files: RemoteFiles; close(): void }> {
  const config = await loadConfig({ path: h.laptopConfig });
  const nas = config.peers.get('nas')!;
  const conn = await dialSsh({ host: '127.0.0.1', port: h.port, privateKey: config.localKey!.sshKey, hostKeyBlob: nas.publicKey.blob, peerName: 'nas' });
  const session = new Session(conn.stream, { hello: { peer: 'laptop', arenas: [] } });
  await session.ready;
  return { session, files: new RemoteFiles(session), close: () => (session.close(), conn.close()) };
}

function ssh(keyFile: string, args: string[]) {
  return run('ssh', ['-p', String(h.port), '-i', keyFile, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', ...args], { timeout: 20_000 });
}

test('the host key offered is the configured one (ssh-keyscan)', async () => {
  const { stdout } = await run('ssh-keyscan', ['-t', 'ed25519', '-p', String(h.port), '127.0.0.1'], { timeout: 20_000 });
  const offered = stdout.trim().split(/\s+/).slice(1, 3).join(' ');
  assert.equal(offered, h.nasPublicLine.split(' ').slice(0, 2).join(' '));
});

test("a stranger's key is refused at authentication (OpenSSH client)", async () => {
  const stranger = generateKeyPair('stranger');
  const file = join(dir, 'stranger.key');
  writeFileSync(file, stranger.privateKey, { mode: 0o600 });
  await assert.rejects(ssh(file, ['-s', 'realize@127.0.0.1', 'realize']), (e: { code: number; stderr: string }) => e.code === 255 && /Permission denied \(publickey\)/.test(e.stderr));
  assert.match(h.serveLog(), /refused 127\.0\.0\.1:\d+: unknown key/);
});

test('a configured key is admitted and the channel speaks the protocol (OpenSSH client)', async () => {
  const child = spawn('ssh', ['-p', String(h.port), '-i', join(dir, 'laptop.key'), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-s', 'realize@127.0.0.1', 'realize']);
  const first = await new Promise<Buffer>((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (code) => reject(new Error(`ssh exited ${code}`)));
  });
  child.kill();
  assert.ok(first.subarray(0, 10).equals(encodePreamble()), 'preamble REALIZE\\n + version');
});

test('a peer sees only its granted arenas and cannot reach the others', async () => {
  const s = await openSession();
  try {
    assert.deepEqual(s.session.remote!.arenas, ['photos']);
    const listing = await s.files.list('photos');
    assert.deepEqual(listing.files.map((f) => f.path), ['hello.txt']);
    assert.equal(listing.skipped.symlinks, 2);
    await assert.rejects(s.files.list('secret'), (e: RealizeError) => e.code === 'auth' && /not granted/.test(e.message));
    await assert.rejects(s.session.call('read', { arena: 'secret', path: 'diary.txt', offset: 0, length: 6 }), (e: RealizeError) => e.code === 'auth');
  } finally {
    s.close();
  }
});

test('.., absolute paths and symlink escapes are refused; nothing outside is touched', async () => {
  const s = await openSession();
  try {
    const bad = ['../secret/diary.txt', '/etc/passwd', 'a/../../x', 'linkdir/loot.txt', 'link.txt', '', 'a//b', './hello.txt'];
    for (const path of bad) {
      await assert.rejects(s.session.call('read', { arena: 'photos', path, offset: 0, length: 4 }), (e: RealizeError) => e.code === 'path', path);
      if (path !== 'link.txt') await assert.rejects(s.session.call('send', { arena: 'photos', path, offset: 0, fileSize: 4 }, { bulk: Buffer.from('evil') }), (e: RealizeError) => e.code === 'path', path);
      await assert.rejects(s.session.call('delete', { arena: 'photos', path }), (e: RealizeError) => e.code === 'path', path);
    }
    await assert.rejects(s.session.call('send', { arena: 'photos', path: 'linkdir/new.txt', offset: 0, fileSize: 4 }, { bulk: Buffer.from('evil') }), (e: RealizeError) => e.code === 'path');
    assert.equal(readFileSync(join(dir, 'outside', 'loot.txt'), 'utf8'), 'loot');
    assert.deepEqual((await s.files.read('photos', 'hello.txt' as never, 0, 5)).toString(), 'hello');
    await assert.rejects(s.session.call('read', { arena: 'photos', path: 'hello.txt', offset: -1, length: 4 }), (e: RealizeError) => e.code === 'path');
    await assert.rejects(s.session.call('read', { arena: 'photos', path: 'hello.txt', offset: 0, length: 2 ** 40 }), (e: RealizeError) => e.code === 'path');
  } finally {
    s.close();
  }
});

test('200 connections of random bytes do not stop the daemon; a real session works afterwards', async () => {
  const junk = Array.from({ length: 200 }, (_, i) =>
    new Promise<void>((resolve) => {
      const c = tcpConnect({ host: '127.0.0.1', port: h.port }, () => {
        c.write(Buffer.from(Array.from({ length: 64 + (i % 512) }, () => Math.floor(Math.random() * 256))));
        c.end();
      });
      c.on('error', () => resolve());
      c.on('close', () => resolve());
      c.setTimeout(10_000, () => c.destroy());
    }),
  );
  await Promise.all(junk);
  assert.equal(h.serve.exitCode, null, 'daemon still running');
  const s = await openSession();
  try {
    assert.equal((await s.files.read('photos', 'hello.txt' as never, 0, 5)).toString(), 'hello');
  } finally {
    s.close();
  }
});

test('an oversized frame closes only that connection', async () => {
  const good = await openSession();
  const config = await loadConfig({ path: h.laptopConfig });
  const conn = await dialSsh({ host: '127.0.0.1', port: h.port, privateKey: config.localKey!.sshKey, hostKeyBlob: config.peers.get('nas')!.publicKey.blob, peerName: 'nas' });
  try {
    const closed = new Promise<void>((resolve) => conn.stream.on('close', () => resolve()));
    conn.stream.resume();
    const head = Buffer.alloc(4);
    head.writeUInt32BE(0x7fffffff);
    conn.stream.write(Buffer.concat([encodePreamble(), head]));
    await closed;
    assert.equal((await good.files.read('photos', 'hello.txt' as never, 0, 5)).toString(), 'hello');
    assert.match(h.serveLog(), /over the \d+-byte limit/);
  } finally {
    good.close();
    conn.close();
  }
});

test('ssh2 client with a stranger key gets a one-line auth error', async () => {
  const stranger = generateKeyPair('stranger');
  const config = await loadConfig({ path: h.laptopConfig });
  await assert.rejects(
    dialSsh({ host: '127.0.0.1', port: h.port, privateKey: stranger.privateKey, hostKeyBlob: config.peers.get('nas')!.publicKey.blob, peerName: 'nas' }),
    (e: RealizeError) => e.code === 'auth' && /refused our key/.test(e.message),
  );
});

test('a host presenting another key is refused (no trust on first use)', async () => {
  const other = generateKeyPair('imposter');
  const config = await loadConfig({ path: h.laptopConfig });
  const wrongPin = Buffer.from(other.publicLine.split(' ')[1]!, 'base64');
  await assert.rejects(
    dialSsh({ host: '127.0.0.1', port: h.port, privateKey: config.localKey!.sshKey, hostKeyBlob: wrongPin, peerName: 'nas' }),
    (e: RealizeError) => e.code === 'auth' && /host key/.test(e.message),
  );
});

test('SIGHUP reloads the config: a new arena is served to new connections', async () => {
  const extra = join(dir, 'nas-docs');
  mkdirSync(extra);
  writeFileSync(join(extra, 'doc.txt'), 'doc');
  appendFileSync(h.nasConfig, '');
  const text = readFileSync(h.nasConfig, 'utf8').replace('[peers.nas]', `[arenas.docs]\npath = "${extra}"\n\n[peers.nas]`).replace('arenas = ["photos"]', 'arenas = ["photos", "docs"]');
  writeFileSync(h.nasConfig, text);
  h.serve.kill('SIGHUP');
  await new Promise((r) => setTimeout(r, 500));
  const s = await openSession();
  try {
    assert.deepEqual(s.session.remote!.arenas.sort(), ['docs', 'photos']);
  } finally {
    s.close();
  }
});

test('ssh2 agrees on AES-GCM with our server', async () => {
  // The cipher matters for throughput; make sure the server offers it first.
  const config = await loadConfig({ path: h.laptopConfig });
  const cipher = await new Promise<string>((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('handshake', (neg) => {
      resolve(neg.cs.cipher);
      c.end();
    });
    c.on('error', reject);
    c.connect({ host: '127.0.0.1', port: h.port, username: 'realize', privateKey: config.localKey!.sshKey });
  });
  assert.equal(cipher, 'aes128-gcm@openssh.com');
});

test('bad config, port in use: one line on stderr and exit 1', async () => {
  const broken = join(dir, 'broken.toml');
  writeFileSync(broken, 'privkey = "nas.key"\nlisten = 12\n');
  let r = await runBin('realize-serve', ['--config', broken]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^realize-serve: .*broken\.toml:2.*listen/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  r = await runBin('realize-serve', ['--config', h.nasConfig]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /address already in use/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});
