// The ssh binary's command line: AES-GCM preferred among the ciphers the
// user's ssh configuration allows, asked of `ssh -G` itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { preferAesGcm } from '../../lib/transport/ssh-command.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();

test("AES-GCM comes first among the ciphers ssh's configuration allows, none added or removed", async () => {
  const config = join(dir, 'ssh_config');
  writeFileSync(config, 'Host *\n  Ciphers aes128-ctr,chacha20-poly1305@openssh.com,aes256-gcm@openssh.com\n');
  assert.deepEqual(await preferAesGcm('ssh', ['-F', config], 'someone@example.invalid'), ['-o', 'Ciphers=aes256-gcm@openssh.com,aes128-ctr,chacha20-poly1305@openssh.com']);
  // OpenSSH's own defaults: chacha20 first, AES-GCM moved ahead.
  const [, ciphers] = await preferAesGcm('ssh', ['-F', '/dev/null'], 'example.invalid');
  assert.match(ciphers!, /^Ciphers=aes128-gcm@openssh\.com,aes256-gcm@openssh\.com,chacha20-poly1305@openssh\.com/);
});

test('nothing is added when the command names its ciphers, allows no AES-GCM, already prefers it, or is not ssh', async () => {
  assert.deepEqual(await preferAesGcm('ssh', ['-c', 'aes128-ctr'], 'h'), []);
  assert.deepEqual(await preferAesGcm('ssh', ['-o', 'Ciphers=aes128-ctr'], 'h'), []);
  const ctrOnly = join(dir, 'ctr_config');
  writeFileSync(ctrOnly, 'Host *\n  Ciphers aes128-ctr,chacha20-poly1305@openssh.com\n');
  assert.deepEqual(await preferAesGcm('ssh', ['-F', ctrOnly], 'h'), []);
  const gcmFirst = join(dir, 'gcm_config');
  writeFileSync(gcmFirst, 'Host *\n  Ciphers aes128-gcm@openssh.com,aes128-ctr\n');
  assert.deepEqual(await preferAesGcm('ssh', ['-F', gcmFirst], 'h'), []);
  assert.deepEqual(await preferAesGcm('dbclient', [], 'h'), []);
  assert.deepEqual(await preferAesGcm('ssh', ['-F', join(dir, 'missing')], 'h'), []);
});
