import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CACHE_SIZE, findPeerByKey, findPeerByName, loadConfig, requireArena, requirePeer, resolveConfigPath } from '../../lib/config/index.js';
import { RealizeError } from '../../lib/model/errors.js';
import { generateKeyPair, parsePublicKey, writeNewKey } from '../../lib/model/keys.js';

const root = mkdtempSync(join(tmpdir(), 'realize-config-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A fresh folder holding `realize.toml` with `text`; returns the file's path. */
function configFile(text: string): string {
  const dir = join(root, `c${++n}`);
  mkdirSync(dir);
  const file = join(dir, 'realize.toml');
  writeFileSync(file, text);
  return file;
}

/** Loads `text` and expects a config error whose message is exactly `FILE:<rest>`. */
async function assertConfigError(text: string, rest: string | RegExp): Promise<void> {
  const file = configFile(text);
  await assert.rejects(loadConfig({ path: file, env: {} }), (e: unknown) => {
    assert.ok(e instanceof RealizeError, String(e));
    assert.equal(e.code, 'config');
    assert.ok(e.message.startsWith(file + ':'), e.message);
    const tail = e.message.slice(file.length);
    if (typeof rest === 'string') assert.equal(tail, rest);
    else assert.match(tail, rest);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

const laptop = generateKeyPair('laptop');
const nasPem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
const phone = generateKeyPair();

test('a full config: keys, paths relative to its folder, defaults, self entry skipped, default arenas', async () => {
  const file = configFile('');
  const dir = join(file, '..');
  const selfLine = await writeNewKey(join(dir, 'keys', 'id_ed25519'), 'me');
  writeFileSync(
    file,
    `# The household
privkey = "keys/id_ed25519"
listen  = "0.0.0.0:9771"
state   = "state"
cache_size = "20G"

[arenas.photos]
path = "/srv/photos"

[arenas.docs]
path = "docs"

[arenas.music]   # mounted only

[peers.laptop]
pubkey  = "${laptop.publicLine}"
address = "laptop.lan"
arenas  = ["photos"]

[peers.nas]
pubkey = """
${nasPem}"""
address = "[::1]:9000"

[peers.phone]
pubkey = "${phone.publicLine}"
arenas = []

[peers.me]        # this very peer: the table is the same everywhere
pubkey = "${selfLine}"
address = "server.lan:9771"
arenas = ["docs"]
`,
  );
  const c = await loadConfig({ path: file, env: {} });
  assert.equal(c.file, file);
  assert.equal(c.privkeyFile, join(dir, 'keys', 'id_ed25519'));
  assert.equal(c.localKey?.publicKey.line, parsePublicKey(selfLine).line);
  assert.deepEqual(c.listen, { host: '0.0.0.0', port: 9771 });
  assert.equal(c.state, join(dir, 'state'));
  assert.equal(c.cacheSize, 20 * 2 ** 30);
  assert.deepEqual([...c.arenas.values()], [
    { name: 'photos', path: '/srv/photos' },
    { name: 'docs', path: join(dir, 'docs') },
    { name: 'music' },
  ]);
  assert.deepEqual([...c.peers.keys()], ['laptop', 'nas', 'phone']);
  assert.equal(c.selfName, 'me');
  const l = c.peers.get('laptop')!;
  assert.equal(l.publicKey.line, parsePublicKey(laptop.publicLine).line);
  assert.deepEqual(l.address, { host: 'laptop.lan', port: 9771 });
  assert.deepEqual(l.arenas, ['photos']);
  const nas = c.peers.get('nas')!;
  assert.ok(nas.publicKey.equals(parsePublicKey(nasPem)));
  assert.deepEqual(nas.address, { host: '::1', port: 9000 });
  assert.deepEqual(nas.arenas, ['photos', 'docs', 'music'], 'default: all arenas');
  assert.equal(c.peers.get('phone')!.address, undefined);
  assert.deepEqual(c.peers.get('phone')!.arenas, []);

  assert.equal(findPeerByKey(c, parsePublicKey(nasPem)), nas);
  assert.equal(findPeerByKey(c, parsePublicKey(selfLine)), undefined, 'this peer is not one of its peers');
  assert.equal(findPeerByKey(c, parsePublicKey(generateKeyPair().publicLine)), undefined);
  assert.equal(findPeerByName(c, 'laptop'), l);
  assert.equal(findPeerByName(c, 'me'), undefined);
  assert.equal(requirePeer(c, 'laptop'), l);
  assert.throws(() => requirePeer(c, 'lapton'), { message: `unknown peer "lapton" (did you mean "laptop"?): configured peers: laptop, nas, phone in ${file}` });
  assert.equal(requireArena(c, 'docs').name, 'docs');
  assert.throws(() => requireArena(c, 'fotos'), { message: /^unknown arena "fotos" \(did you mean "photos"\?\)/ });
});

test('without privkey, every [peers] entry is a peer; inline tables and dotted keys work', async () => {
  const file = configFile(`[peers]\na = { pubkey = "${laptop.publicLine}" }\nb.pubkey = "${phone.publicLine}"\nb.address = "10.0.0.2:1234"\n`);
  const c = await loadConfig({ path: file, env: {} });
  assert.equal(c.localKey, undefined);
  assert.equal(c.selfName, undefined);
  assert.deepEqual([...c.peers.keys()], ['a', 'b']);
  assert.deepEqual(c.peers.get('b')!.address, { host: '10.0.0.2', port: 1234 });
  assert.deepEqual(c.peers.get('a')!.arenas, []);
});

test('defaults: no file at the XDG location is fine, XDG_STATE_HOME and HOME are honoured', async () => {
  const home = join(root, 'home');
  const c = await loadConfig({ env: { HOME: home } });
  assert.equal(c.file, undefined);
  assert.deepEqual(c.listen, { host: '127.0.0.1', port: 9771 });
  assert.equal(c.state, join(home, '.local', 'state', 'realize'));
  assert.equal(c.cacheSize, DEFAULT_CACHE_SIZE);
  assert.equal(c.arenas.size, 0);
  assert.equal(c.peers.size, 0);
  const s = await loadConfig({ env: { HOME: home, XDG_STATE_HOME: '/var/xdg-state' } });
  assert.equal(s.state, '/var/xdg-state/realize');
  // An empty file is a valid config too.
  const e = await loadConfig({ path: configFile(''), env: { HOME: home } });
  assert.equal(e.state, join(home, '.local', 'state', 'realize'));
});

test('resolveConfigPath: --config, then $REALIZE_CONFIG, then $XDG_CONFIG_HOME, then ~/.config', async () => {
  const env = { HOME: '/home/u', XDG_CONFIG_HOME: '/xdg', REALIZE_CONFIG: '/etc/realize.toml' };
  assert.equal(resolveConfigPath('/a/b.toml', env), '/a/b.toml');
  assert.equal(resolveConfigPath('rel.toml', env), join(process.cwd(), 'rel.toml'));
  assert.equal(resolveConfigPath('~/r.toml', env), '/home/u/r.toml');
  assert.equal(resolveConfigPath(undefined, env), '/etc/realize.toml');
  assert.equal(resolveConfigPath(undefined, { HOME: '/home/u', XDG_CONFIG_HOME: '/xdg' }), '/xdg/realize/realize.toml');
  assert.equal(resolveConfigPath(undefined, { HOME: '/home/u' }), '/home/u/.config/realize/realize.toml');
  assert.equal(resolveConfigPath(undefined, { HOME: '/home/u', XDG_CONFIG_HOME: 'relative' }), '/home/u/.config/realize/realize.toml');

  // The file each one names is the one read.
  const xdg = join(root, 'xdg');
  mkdirSync(join(xdg, 'realize'), { recursive: true });
  writeFileSync(join(xdg, 'realize', 'realize.toml'), 'cache_size = "1G"\n');
  const viaEnv = configFile('cache_size = "2G"\n');
  const viaFlag = configFile('cache_size = "3G"\n');
  assert.equal((await loadConfig({ env: { XDG_CONFIG_HOME: xdg } })).cacheSize, 2 ** 30);
  assert.equal((await loadConfig({ env: { XDG_CONFIG_HOME: xdg, REALIZE_CONFIG: viaEnv } })).cacheSize, 2 * 2 ** 30);
  assert.equal((await loadConfig({ path: viaFlag, env: { XDG_CONFIG_HOME: xdg, REALIZE_CONFIG: viaEnv } })).cacheSize, 3 * 2 ** 30);
});

test('a named config file must exist', async () => {
  const missing = join(root, 'missing.toml');
  await assert.rejects(loadConfig({ path: missing, env: {} }), { code: 'config', message: `cannot read config ${missing}: no such file or directory` });
  await assert.rejects(loadConfig({ env: { REALIZE_CONFIG: missing } }), { message: `cannot read config ${missing}: no such file or directory` });
  await assert.rejects(loadConfig({ env: { HOME: join(root, 'nohome') }, requireFile: true }), { message: /^cannot read config .*nohome\/\.config\/realize\/realize\.toml: no such file/ });
  await assert.rejects(loadConfig({ path: root, env: {} }), { message: `cannot read config ${root}: is a directory` });
});

test('syntax errors name the file, line and column', async () => {
  await assertConfigError('state = "/x"\n\nlisten = "a\n', /^:3:\d+: control characters are not allowed in strings$/);
  await assertConfigError('state = "/x"\nstate = "/y"\n', ':2:1: trying to redefine an already defined table or value');
});

test('unknown keys are errors, with a suggestion when close', async () => {
  await assertConfigError('state = "/x"\ncache-size = "1G"\n', ':2: cache-size: unknown key (did you mean "cache_size"?)');
  await assertConfigError('[arena.photos]\npath = "/x"\n', ':1: arena: unknown key (did you mean "arenas"?)');
  await assertConfigError('[arenas.photos]\npath = "/x"\nowner = "me"\n', ':3: arenas.photos.owner: unknown key; expected path');
  await assertConfigError(`[peers.laptop]\npubkey = "${laptop.publicLine}"\nadress = "x:1"\n`, ':3: peers.laptop.adress: unknown key (did you mean "address"?)');
  await assertConfigError('colour = "blue"\n', ':1: colour: unknown key; expected privkey, listen, state, cache_size, arenas, peers');
});

test('bad values name the file, the line and the key', async () => {
  const pk = `pubkey = "${laptop.publicLine}"`;
  await assertConfigError(
    `[arenas.photos]\npath = "/p"\n\n[peers.laptop]\naddress = "laptop.lan"\n# the key:\npubkey = "ssh-rsa AAAAB3NzaC1yc2E"\n`,
    ':7: peers.laptop.pubkey: not an ed25519 public key: the key type is "ssh-rsa"',
  );
  await assertConfigError('[peers.laptop]\naddress = "laptop.lan"\n', /^:1: peers\.laptop\.pubkey: missing: give the peer's public key/);
  await assertConfigError(`[arenas.photos]\n[peers.laptop]\n${pk}\narenas = ["photos", "fotos"]\n`, ':4: peers.laptop.arenas: unknown arena "fotos" (did you mean "photos"?)');
  await assertConfigError(`[arenas.photos]\n[peers.laptop]\n${pk}\narenas = ["music"]\n`, ':4: peers.laptop.arenas: unknown arena "music" (configured: photos)');
  await assertConfigError(`[peers.laptop]\n${pk}\narenas = "photos"\n`, ':3: peers.laptop.arenas: expected a list of arena names such as ["photos"], not a string');
  await assertConfigError(`[peers.laptop]\n${pk}\naddress = "laptop.lan:99999"\n`, ':3: peers.laptop.address: invalid address "laptop.lan:99999": port must be a number from 1 to 65535');
  await assertConfigError(`[peers."my laptop"]\n${pk}\n`, /^:1: peers\."my laptop": invalid peer name "my laptop"/);
  await assertConfigError(`[peers.a]\n${pk}\n\n[peers.b]\n${pk}\n`, ':5: peers.b.pubkey: same key as peers.a');
  await assertConfigError(`[peers]\nlaptop = "${laptop.publicLine}"\n`, /^:2: peers\.laptop: expected a table, as in \[peers\.NAME\]/);
  await assertConfigError('[arenas."my photos"]\npath = "/x"\n', /^:1: arenas\."my photos": invalid arena name "my photos"/);
  await assertConfigError('[arenas.photos]\npath = 3\n', ':2: arenas.photos.path: expected a string, not a number');
  await assertConfigError('state = ""\n', ':1: state: empty');
  await assertConfigError('state = ["/x"]\n', ':1: state: expected a string, not a list');
  await assertConfigError('\ncache_size = "12Q"\n', ':2: cache_size: invalid cache size "12Q": use a number with k, M, G or T (as in 512k or 20G)');
  await assertConfigError('cache_size = -5\n', ':1: cache_size: invalid cache size -5: must be a whole number of bytes from 0 to 2^53-1');
  await assertConfigError('cache_size = true\n', ':1: cache_size: expected a size such as "20G", not a boolean');
  await assertConfigError('listen = "0.0.0.0"\nlisten2 = 1\n', ':2: listen2: unknown key (did you mean "listen"?)');
  await assertConfigError('listen = "[::1"\n', ':1: listen: invalid address "[::1": expected [IPv6]:PORT');
  await assertConfigError('arenas = 5\n', ':1: arenas: expected a table, not a number');
});

test('a PEM pubkey in a multi-line string does not confuse line numbers', async () => {
  // A base64 line ending in '=' looks like a key; the scanner must skip it.
  await assertConfigError(
    `[peers.nas]\npubkey = """\n-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA=\n-----END PUBLIC KEY-----\n"""\narenas = ["x"]\n`,
    /^:2: peers\.nas\.pubkey: not an ed25519 public key/,
  );
  // A header inside a multi-line string must not switch tables for the lines after it.
  await assertConfigError(`[arenas.x]\npath = """\n/srv/a\n[peers.nas]\n"""\nowner = 1\n`, ':6: arenas.x.owner: unknown key; expected path');
  await assertConfigError(`[arenas.x]\npath = '''/srv/a\n[peers.nas]'''\nowner = 1\n`, ':4: arenas.x.owner: unknown key; expected path');
});

test('privkey problems name the config line and the key file', async () => {
  const file = configFile('');
  const dir = join(file, '..');
  writeFileSync(file, 'state = "/s"\nprivkey = "nokey"\n');
  await assertConfigErrorAt(file, `:2: privkey: cannot read key ${join(dir, 'nokey')}: no such file or directory`);
  writeFileSync(join(dir, 'pub'), generateKeyPair().publicLine);
  writeFileSync(file, 'privkey = "pub"\n');
  await assertConfigErrorAt(file, `:1: privkey: ${join(dir, 'pub')} is not an ed25519 private key (it is a public key)`);
  // A PKCS#8 key is fine, and its peer entry is recognized as self.
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const spki = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(file, `privkey = "key.pem"\n[peers.self]\npubkey = """${spki}"""\n[peers.other]\npubkey = "${phone.publicLine}"\n`);
  const c = await loadConfig({ path: file, env: {} });
  assert.equal(c.selfName, 'self');
  assert.deepEqual([...c.peers.keys()], ['other']);
});

async function assertConfigErrorAt(file: string, rest: string): Promise<void> {
  await assert.rejects(loadConfig({ path: file, env: {} }), (e: unknown) => {
    assert.ok(e instanceof RealizeError && e.code === 'config');
    assert.equal(e.message, file + rest);
    return true;
  });
}
