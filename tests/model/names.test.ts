import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RealizeError } from '../../lib/model/errors.js';
import { formatAddress, parseAddress } from '../../lib/model/address.js';
import { parseArenaName, parsePeerName } from '../../lib/model/names.js';

test('arena and peer names: letters, digits, . _ -, 1 to 64, starting with a letter or digit', () => {
  for (const ok of ['photos', 'a', 'Docs-2024', 'x.y_z', '0', 'a'.repeat(64)]) {
    assert.equal(parseArenaName(ok), ok);
    assert.equal(parsePeerName(ok), ok);
  }
  for (const bad of ['', '-a', '.hidden', '_x', 'a b', 'a/b', 'a:b', 'été', 'a'.repeat(65)]) {
    assert.throws(() => parseArenaName(bad), (e: unknown) => e instanceof RealizeError && /^invalid arena name/.test(e.message), bad);
    assert.throws(() => parsePeerName(bad), { message: /^invalid peer name/ }, bad);
  }
});

test('addresses: host:port, [v6]:port, default port', () => {
  assert.deepEqual(parseAddress('laptop.lan:9000'), { host: 'laptop.lan', port: 9000 });
  assert.deepEqual(parseAddress('laptop.lan'), { host: 'laptop.lan', port: 9771 });
  assert.deepEqual(parseAddress('10.0.0.2:22'), { host: '10.0.0.2', port: 22 });
  assert.deepEqual(parseAddress('[::1]:9772'), { host: '::1', port: 9772 });
  assert.deepEqual(parseAddress('[fe80::1]'), { host: 'fe80::1', port: 9771 });
  assert.deepEqual(parseAddress('::1'), { host: '::1', port: 9771 });
  assert.deepEqual(parseAddress('0.0.0.0:0', { allowPortZero: true }), { host: '0.0.0.0', port: 0 });
  for (const bad of ['', 'host:', 'host:x', 'host:65536', 'host:0', '[::1', '[nothost]:1', 'a b:1', 'host/x:1', '::1:99999']) {
    assert.throws(() => parseAddress(bad), { message: /^invalid address/ }, bad);
  }
  assert.throws(() => parseAddress('host', { defaultPort: null }), /expected HOST:PORT/);
  assert.equal(formatAddress({ host: '::1', port: 1 }), '[::1]:1');
  assert.equal(formatAddress({ host: 'a', port: 1 }), 'a:1');
});
