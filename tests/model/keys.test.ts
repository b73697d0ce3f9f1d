import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { RealizeError } from '../../lib/model/errors.js';
import { PublicKey, generateKeyPair, loadPrivateKey, parsePublicKey, writeNewKey } from '../../lib/model/keys.js';
import { runBin } from '../helpers/run.js';

const dir = mkdtempSync(join(tmpdir(), 'realize-keys-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function sshKeygen(...args: string[]): string {
  return execFileSync('ssh-keygen', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

test('realize-serve keygen writes a 0600 OpenSSH key that ssh-keygen accepts, and prints its public line', async () => {
  const file = join(dir, 'sub', 'id_ed25519');
  const r = await runBin('realize-serve', ['keygen', '-C', 'laptop@home', file]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  const line = r.stdout.trim();
  assert.match(line, /^ssh-ed25519 AAAA[A-Za-z0-9+/]+=* laptop@home$/);
  assert.equal(r.stdout, line + '\n', 'exactly one line');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.match(readFileSync(file, 'utf8'), /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
  assert.equal(sshKeygen('-y', '-f', file), line);

  // Loading it gives the same public key and the fingerprint ssh-keygen -l prints.
  const key = await loadPrivateKey(file);
  assert.equal(key.file, file);
  assert.equal(key.publicKey.line, line.split(' ').slice(0, 2).join(' '));
  assert.equal(key.publicKey.comment, 'laptop@home');
  assert.equal(sshKeygen('-l', '-f', file).split(' ')[1], key.publicKey.fingerprint);
  assert.ok(parsePublicKey(line).equals(key.publicKey));
});

test('realize-serve keygen refuses to overwrite, in one line, exit 1', async () => {
  const file = join(dir, 'existing');
  writeFileSync(file, 'precious');
  const r = await runBin('realize-serve', ['keygen', file]);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `realize-serve: refusing to overwrite ${file}: it already exists (remove it first or choose another file)\n`);
  assert.equal(readFileSync(file, 'utf8'), 'precious');
  await assert.rejects(writeNewKey(file), (e: unknown) => e instanceof RealizeError && e.code === 'usage');
});

test('realize-serve keygen --help explains where the public line goes', async () => {
  const r = await runBin('realize-serve', ['keygen', '--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /\$ realize-serve keygen/);
  assert.match(r.stdout, /\[peers\.NAME\]/);
  assert.match(r.stdout, /pubkey/);
  assert.match(r.stdout, /privkey/);
});

test('realize-serve keygen without a default comment still works, with USER@HOST', async () => {
  const file = join(dir, 'plain');
  const r = await runBin('realize-serve', ['keygen', file]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ssh-ed25519 \S+ \S+@\S+\n$/);
});

test('keys made by ssh-keygen load; encrypted, RSA, public and garbage files are refused in one line', async () => {
  const plain = join(dir, 'openssh_plain');
  sshKeygen('-q', '-t', 'ed25519', '-N', '', '-C', 'made by ssh-keygen', '-f', plain);
  const key = await loadPrivateKey(plain);
  assert.equal(key.publicKey.line + ' made by ssh-keygen', readFileSync(plain + '.pub', 'utf8').trim());

  const enc = join(dir, 'openssh_enc');
  sshKeygen('-q', '-t', 'ed25519', '-N', 'secret', '-f', enc);
  await assert.rejects(loadPrivateKey(enc), { message: new RegExp(`^${enc} is encrypted with a passphrase.*ssh-keygen -p`) });

  const rsa = join(dir, 'rsa');
  sshKeygen('-q', '-t', 'rsa', '-b', '1024', '-N', '', '-f', rsa);
  await assert.rejects(loadPrivateKey(rsa), { message: `${rsa} is not an ed25519 private key (it is an ssh-rsa key)` });
  await assert.rejects(loadPrivateKey(rsa + '.pub'), { message: `${rsa}.pub is not an ed25519 private key (it is a public key)` });

  const pk8enc = join(dir, 'pkcs8_enc.pem');
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(pk8enc, privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }));
  await assert.rejects(loadPrivateKey(pk8enc), { message: /is encrypted with a passphrase/ });

  const ec = join(dir, 'ec.pem');
  writeFileSync(ec, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await assert.rejects(loadPrivateKey(ec), { message: `${ec} is not an ed25519 private key (it holds an ec key)` });

  const garbage = join(dir, 'garbage');
  writeFileSync(garbage, 'hello\n');
  await assert.rejects(loadPrivateKey(garbage), { message: `${garbage} is not an ed25519 private key (expected OpenSSH or PKCS#8 PEM)` });

  const corrupt = join(dir, 'corrupt');
  const text = readFileSync(plain, 'utf8');
  writeFileSync(corrupt, text.slice(0, 200) + '\n-----END OPENSSH PRIVATE KEY-----\n');
  await assert.rejects(loadPrivateKey(corrupt), { message: /is not an ed25519 private key \(truncated or corrupt\)/ });

  await assert.rejects(loadPrivateKey(join(dir, 'absent')), { message: `cannot read key ${join(dir, 'absent')}: no such file or directory` });
  await assert.rejects(loadPrivateKey(dir), { message: `cannot read key ${dir}: is a directory` });
  if (process.getuid?.() !== 0) {
    const locked = join(dir, 'locked');
    writeFileSync(locked, text);
    chmodSync(locked, 0);
    await assert.rejects(loadPrivateKey(locked), { message: `cannot read key ${locked}: permission denied` });
  }
});

test('a PKCS#8 key loads and becomes an OpenSSH key that ssh2 and ssh-keygen accept', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const file = join(dir, 'pkcs8.pem');
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const key = await loadPrivateKey(file);
  assert.ok(key.publicKey.equals(parsePublicKey(publicKey.export({ type: 'spki', format: 'pem' }).toString())));
  assert.match(key.sshKey, /^-----BEGIN OPENSSH PRIVATE KEY-----/);
  const parsed = ssh2.utils.parseKey(key.sshKey);
  assert.ok(!(parsed instanceof Error), String(parsed));
  assert.equal((parsed as ssh2.ParsedKey).type, 'ssh-ed25519');
  assert.ok((parsed as ssh2.ParsedKey).getPublicSSH().equals(key.publicKey.blob));
  const converted = join(dir, 'converted');
  writeFileSync(converted, key.sshKey, { mode: 0o600 });
  assert.equal(sshKeygen('-y', '-f', converted), key.publicKey.line);
  // keyObject signs for the public key.
  const sig = sign(null, Buffer.from('hello'), key.keyObject);
  assert.ok(verify(null, Buffer.from('hello'), key.publicKey.toKeyObject(), sig));
});

test('ssh2 uses loaded keys as host key and client key, and the server can admit the client by PublicKey', async () => {
  const hostFile = join(dir, 'host.pem');
  writeFileSync(hostFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const clientFile = join(dir, 'client_key');
  await writeNewKey(clientFile, 'client');
  const host = await loadPrivateKey(hostFile);
  const client = await loadPrivateKey(clientFile);

  let admitted: PublicKey | undefined;
  const server = new ssh2.Server({ hostKeys: [host.sshKey] }, (conn) => {
    conn.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const key = PublicKey.fromBlob(ctx.key.data);
      if (!key?.equals(client.publicKey)) return ctx.reject();
      if (ctx.signature && ctx.blob) {
        if (!verify(null, ctx.blob, key.toKeyObject(), ctx.signature)) return ctx.reject();
        admitted = key;
      }
      ctx.accept();
    });
    conn.on('ready', () => conn.end());
    conn.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    await new Promise<void>((resolve, reject) => {
      const c = new ssh2.Client();
      c.on('ready', () => {
        c.end();
        resolve();
      });
      c.on('error', reject);
      c.connect({
        host: '127.0.0.1',
        port,
        username: 'realize',
        privateKey: client.sshKey,
        hostVerifier: (key: Buffer) => host.publicKey.equals(PublicKey.fromBlob(key)),
      });
    });
  } finally {
    server.close();
  }
  assert.ok(admitted?.equals(client.publicKey));
});

test('parsePublicKey accepts an OpenSSH line or a PEM SPKI block, and nothing else', () => {
  const pair = generateKeyPair('me@there');
  const fromLine = parsePublicKey(pair.publicLine);
  assert.equal(fromLine.comment, 'me@there');
  assert.equal(fromLine.raw.length, 32);
  assert.equal(String(fromLine), fromLine.line);
  const pem = fromLine.toPem();
  assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n/);
  const fromPem = parsePublicKey(pem);
  assert.ok(fromPem.equals(fromLine));
  assert.equal(fromPem.line, fromLine.line);
  assert.equal(fromPem.fingerprint, fromLine.fingerprint);
  // Indented, as in a TOML multi-line string.
  assert.ok(parsePublicKey(pem.split('\n').map((l) => '    ' + l).join('\n')).equals(fromLine));
  assert.ok(parsePublicKey(`  ${fromLine.line}  \n`).equals(fromLine));

  const other = parsePublicKey(generateKeyPair().publicLine);
  assert.equal(other.equals(fromLine), false);
  assert.equal(other.comment, undefined);

  const file = join(dir, 'pub.pub');
  writeFileSync(file, pair.publicLine + '\n');
  assert.equal(sshKeygen('-l', '-f', file).split(' ')[1], fromLine.fingerprint);

  const rsaLine = readFileSync(join(dir, 'rsa.pub'), 'utf8');
  const refused: [string, RegExp][] = [
    [rsaLine, /the key type is "ssh-rsa"/],
    ['', /expected "ssh-ed25519 AAAA…"/],
    ['ssh-ed25519', /expected/],
    ['ssh-ed25519 !!!!', /not base64/],
    [`ssh-ed25519 ${fromLine.line.split(' ')[1]!.slice(0, 30)}`, /malformed/],
    ['ssh-ed25519 ' + Buffer.concat([fromLine.blob, Buffer.from([0])]).toString('base64'), /malformed/],
    [generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), /private key/],
    [generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString(), /holds an ec key/],
    ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', /cannot be decoded/],
  ];
  for (const [text, why] of refused) {
    assert.throws(() => parsePublicKey(text), (e: unknown) => e instanceof RealizeError && e.message.startsWith('not an ed25519 public key') && why.test(e.message), text);
  }
  assert.equal(PublicKey.fromBlob(Buffer.from('junk')), undefined);
});
