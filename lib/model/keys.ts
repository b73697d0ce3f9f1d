// ed25519 keys, the identity of a peer (DESIGN §1, §9). Public keys come as
// an OpenSSH line (`ssh-ed25519 AAAA… comment`) or a PEM SPKI block; private
// keys as OpenSSH (`BEGIN OPENSSH PRIVATE KEY`) or PKCS#8 PEM. Whatever the
// input, a loaded private key is handed on in OpenSSH format, which ssh2
// accepts as a host key and a client key. Only node:crypto is used here.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { RealizeError, errnoText } from './errors.js';

const KEY_TYPE = 'ssh-ed25519';
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const OPENSSH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const OPENSSH_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const OPENSSH_END = '-----END OPENSSH PRIVATE KEY-----';
/** Key files larger than this are not keys. */
const MAX_KEY_FILE = 64 * 1024;

/** A peer's ed25519 public key. */
export class PublicKey {
  /** The 32 bytes of the key. */
  readonly raw: Buffer;
  /** Canonical OpenSSH line without comment: `ssh-ed25519 <base64>`. */
  readonly line: string;
  /** `SHA256:<base64>`, as `ssh-keygen -l` prints it. */
  readonly fingerprint: string;
  /** The comment of the line it was parsed from, if any. */
  readonly comment: string | undefined;

  constructor(raw: Uint8Array, comment?: string) {
    if (raw.length !== 32) throw new RealizeError('usage', `not an ed25519 public key: ${raw.length} bytes instead of 32`);
    this.raw = Buffer.from(raw);
    this.comment = comment || undefined;
    const blob = this.blob;
    this.line = `${KEY_TYPE} ${blob.toString('base64')}`;
    this.fingerprint = 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
  }

  /** From the SSH wire form (ssh2's `ctx.key.data` when a client authenticates); undefined unless it is a well-formed ed25519 key. */
  static fromBlob(blob: Uint8Array, comment?: string): PublicKey | undefined {
    try {
      const r = new Reader(Buffer.from(blob));
      if (r.string().toString('latin1') !== KEY_TYPE) return undefined;
      const raw = r.string();
      r.end();
      return raw.length === 32 ? new PublicKey(raw, comment) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The SSH wire form: string "ssh-ed25519", string key (what ssh2 reports as a client's key data). */
  get blob(): Buffer {
    return Buffer.concat([sshString(KEY_TYPE), sshString(this.raw)]);
  }

  equals(other: PublicKey | undefined): boolean {
    return other !== undefined && timingSafeEqual(this.raw, other.raw);
  }

  /** The key as a PEM SPKI block. */
  toPem(): string {
    return this.toKeyObject().export({ type: 'spki', format: 'pem' }).toString();
  }

  toKeyObject(): KeyObject {
    return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, this.raw]), format: 'der', type: 'spki' });
  }

  toString(): string {
    return this.line;
  }
}

/**
 * Parses a public key: an OpenSSH line (`ssh-ed25519 AAAA… [comment]`) or a
 * PEM SPKI block (`-----BEGIN PUBLIC KEY-----`). Throws RealizeError('usage')
 * whose message starts with "not an ed25519 public key".
 */
export function parsePublicKey(text: string): PublicKey {
  const bad = (why: string): RealizeError => new RealizeError('usage', `not an ed25519 public key: ${why}`);
  if (typeof text !== 'string') throw bad('expected text');
  const s = text.trim();
  if (s.startsWith('-----BEGIN')) {
    if (!/^-----BEGIN PUBLIC KEY-----/.test(s)) {
      throw bad(/PRIVATE KEY/.test(s) ? 'this is a private key; give its public key instead' : 'expected a "BEGIN PUBLIC KEY" PEM block');
    }
    const pem = s.split('\n').map((l) => l.trim()).join('\n');
    let key: KeyObject;
    try {
      key = createPublicKey({ key: pem, format: 'pem' });
    } catch {
      throw bad('the PEM block cannot be decoded');
    }
    if (key.asymmetricKeyType !== 'ed25519') throw bad(`the PEM block holds an ${key.asymmetricKeyType ?? 'unknown'} key`);
    return new PublicKey(key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length));
  }
  const m = /^(\S+)\s+(\S+)(?:\s+(.*))?$/s.exec(s);
  if (!m) throw bad(`expected "ssh-ed25519 AAAA…" or a PEM "BEGIN PUBLIC KEY" block`);
  const [, type, b64, comment] = m;
  if (type !== KEY_TYPE) throw bad(`the key type is ${JSON.stringify(type!.slice(0, 40))}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64!)) throw bad('the key is not base64');
  const key = PublicKey.fromBlob(Buffer.from(b64!, 'base64'), comment?.trim());
  if (!key) throw bad('the key data is malformed');
  return key;
}

/** A private key read from a file, ready for ssh2 and for signing. */
export interface LoadedPrivateKey {
  /** Absolute path of the key file. */
  file: string;
  /** The key in OpenSSH format: ssh2's `hostKeys[]` (server) and `privateKey` (client) accept it. */
  sshKey: string;
  publicKey: PublicKey;
  /** The private key for node:crypto (`sign(null, data, keyObject)`). */
  keyObject: KeyObject;
}

/** A new key pair: the private key in OpenSSH format, and the public line `ssh-ed25519 AAAA… comment`. */
export function generateKeyPair(comment?: string): { privateKey: string; publicLine: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const seed = pkcs8Seed(privateKey);
  const pub = seedToPublic(seed);
  const clean = cleanComment(comment);
  return { privateKey: encodeOpenSsh(seed, pub, clean), publicLine: clean ? `${new PublicKey(pub).line} ${clean}` : new PublicKey(pub).line };
}

/**
 * Reads an unencrypted ed25519 private key (OpenSSH or PKCS#8 PEM). Errors
 * are RealizeError('config'), one line naming the file.
 */
export async function loadPrivateKey(file: string): Promise<LoadedPrivateKey> {
  const path = resolve(file);
  let text: string;
  try {
    const fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    try {
      const buf = Buffer.alloc(MAX_KEY_FILE + 1);
      let n = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
        if (bytesRead === 0 || (n += bytesRead) === buf.length) break;
      }
      if (n > MAX_KEY_FILE) throw new RealizeError('config', `${path} is not an ed25519 private key (larger than ${MAX_KEY_FILE} bytes)`);
      text = buf.subarray(0, n).toString('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof RealizeError) throw err;
    throw new RealizeError('config', `cannot read key ${path}: ${errnoText(err)}`, { cause: err });
  }
  return parsePrivateKey(text, path);
}

/** Parses the text of a private key file; `file` names it in errors and in the result. */
export function parsePrivateKey(text: string, file: string): LoadedPrivateKey {
  const bad = (why: string): RealizeError => new RealizeError('config', `${file} is not an ed25519 private key${why ? ` (${why})` : ''}`);
  const s = text.trim();
  let seed: Buffer;
  let comment = '';
  if (s.startsWith(OPENSSH_BEGIN)) {
    ({ seed, comment } = decodeOpenSsh(s, file, bad));
  } else if (s.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /^Proc-Type:\s*4,ENCRYPTED/m.test(s)) {
    throw encrypted(file, `openssl pkey -in ${file} -out NEWFILE`);
  } else if (s.startsWith('-----BEGIN PRIVATE KEY-----')) {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: s, format: 'pem' });
    } catch {
      throw bad('the PEM block cannot be decoded');
    }
    if (key.asymmetricKeyType !== 'ed25519') throw bad(`it holds an ${key.asymmetricKeyType ?? 'unknown'} key`);
    seed = pkcs8Seed(key);
  } else if (/^-----BEGIN (\w+ )?PRIVATE KEY-----/.test(s)) {
    throw bad(`${/^-----BEGIN (\w+) /.exec(s)![1]} key`);
  } else if (/^-----BEGIN PUBLIC KEY-----/.test(s) || s.startsWith('ssh-')) {
    throw bad('it is a public key');
  } else {
    throw bad('expected OpenSSH or PKCS#8 PEM');
  }
  const pub = seedToPublic(seed);
  const publicKey = new PublicKey(pub, comment);
  return {
    file,
    sshKey: encodeOpenSsh(seed, pub, comment),
    publicKey,
    keyObject: seedToPrivate(seed),
  };
}

/**
 * Writes a new key to `file` in OpenSSH format with mode 0600, creating
 * missing parent directories (mode 0700). Never overwrites: an existing file
 * is a RealizeError('usage'). Returns the public line.
 */
export async function writeNewKey(file: string, comment?: string): Promise<string> {
  const path = resolve(file);
  const { privateKey, publicLine } = generateKeyPair(comment);
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new RealizeError('io', `cannot write key ${path}: ${errnoText(err)}`, { cause: err });
  }
  let fh;
  try {
    fh = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new RealizeError('usage', `refusing to overwrite ${path}: it already exists (remove it first or choose another file)`, { cause: err });
    }
    throw new RealizeError('io', `cannot write key ${path}: ${errnoText(err)}`, { cause: err });
  }
  try {
    await fh.chmod(0o600);
    await fh.writeFile(privateKey);
    await fh.sync();
    await fh.close();
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(path).catch(() => {});
    throw new RealizeError('io', `cannot write key ${path}: ${errnoText(err)}`, { cause: err });
  }
  return publicLine;
}

function encrypted(file: string, decrypt: string): RealizeError {
  return new RealizeError('config', `${file} is encrypted with a passphrase, which Realize cannot ask for: decrypt it (${decrypt}) or make a new key with 'realize-serve keygen FILE'`);
}

// OpenSSH private key format (PROTOCOL.key in OpenSSH):
//   "openssh-key-v1\0"
//   string ciphername ("none")   string kdfname ("none")   string kdfoptions ("")
//   uint32 number of keys (1)    string public key blob
//   string private section:
//     uint32 check, uint32 check (equal)
//     string "ssh-ed25519"  string pub[32]  string seed[32]||pub[32]  string comment
//     padding 1, 2, 3, … to a multiple of 8
function decodeOpenSsh(text: string, file: string, bad: (why: string) => RealizeError): { seed: Buffer; comment: string } {
  const end = text.indexOf(OPENSSH_END);
  if (end < 0) throw bad('truncated');
  const b64 = text.slice(OPENSSH_BEGIN.length, end).replace(/\s+/g, '');
  try {
    const r = new Reader(Buffer.from(b64, 'base64'));
    if (!r.bytes(OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC)) throw bad('bad OpenSSH header');
    const cipher = r.string().toString('latin1');
    r.string(); // kdfname
    r.string(); // kdfoptions
    if (cipher !== 'none') throw encrypted(file, `ssh-keygen -p -N '' -f ${file}`);
    if (r.uint32() !== 1) throw bad('it holds several keys');
    const pubBlob = new Reader(r.string());
    const type = pubBlob.string().toString('latin1');
    if (type !== KEY_TYPE) throw bad(`it is an ${type.slice(0, 40)} key`);
    const priv = new Reader(r.string());
    if (priv.uint32() !== priv.uint32()) throw bad('corrupt private section');
    if (priv.string().toString('latin1') !== KEY_TYPE) throw bad('corrupt private section');
    const pub = priv.string();
    const secret = priv.string();
    const comment = priv.string().toString('utf8');
    if (pub.length !== 32 || secret.length !== 64) throw bad('corrupt private section');
    const seed = secret.subarray(0, 32);
    if (!secret.subarray(32).equals(pub) || !seedToPublic(seed).equals(pub)) throw bad('its public half does not match');
    return { seed: Buffer.from(seed), comment };
  } catch (err) {
    if (err instanceof RealizeError) throw err;
    throw bad('truncated or corrupt');
  }
}

function encodeOpenSsh(seed: Buffer, pub: Buffer, comment: string): string {
  const check = randomBytes(4);
  const parts = [check, check, sshString(KEY_TYPE), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)];
  let priv = Buffer.concat(parts);
  const pad = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    OPENSSH_MAGIC,
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(Buffer.concat([sshString(KEY_TYPE), sshString(pub)])),
    sshString(priv),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g)!;
  return `${OPENSSH_BEGIN}\n${lines.join('\n')}\n${OPENSSH_END}\n`;
}

function pkcs8Seed(key: KeyObject): Buffer {
  const seed = Buffer.from(key.export({ format: 'jwk' }).d ?? '', 'base64url');
  if (seed.length !== 32) throw new RealizeError('config', 'not an ed25519 private key');
  return seed;
}

function seedToPrivate(seed: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

function seedToPublic(seed: Buffer): Buffer {
  const spki = createPublicKey(seedToPrivate(seed)).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(SPKI_PREFIX.length));
}

function cleanComment(comment: string | undefined): string {
  return (comment ?? '').replace(/[\r\n\t]+/g, ' ').trim().slice(0, 1024);
}

function sshString(data: string | Uint8Array): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  return Buffer.concat([uint32(b.length), b]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** Reads SSH wire fields; throws on anything out of bounds. */
class Reader {
  #pos = 0;
  constructor(private readonly buf: Buffer) {}
  bytes(n: number): Buffer {
    if (n > this.buf.length - this.#pos) throw new Error('truncated');
    const out = this.buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
  uint32(): number {
    return this.bytes(4).readUInt32BE();
  }
  string(): Buffer {
    return this.bytes(this.uint32());
  }
  end(): void {
    if (this.#pos !== this.buf.length) throw new Error('trailing bytes');
  }
}
