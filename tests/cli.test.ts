import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBin } from './helpers/run.js';

const BINS = ['realize-sync', 'realize-serve', 'realize-mount', 'realize-watch'];

for (const bin of BINS) {
  test(`${bin} --help explains itself and exits 0`, async () => {
    const r = await runBin(bin, ['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, new RegExp(`\\$ ${bin}`));
  });

  test(`${bin} --version prints the package version`, async () => {
    const r = await runBin(bin, ['--version']);
    assert.equal(r.status, 0);
    assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+$/);
  });

  test(`${bin} refuses an unknown option in one line`, async () => {
    const r = await runBin(bin, ['--no-such-option']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^${bin}: .*--no-such-option`));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
}

// The command line realize-sync runs over ssh is served without the option
// parser (bin/realize-serve.ts); it fails the same way as any other.
test('realize-serve --stdio --root with a missing parent: one line, exit 1, nothing on stdout', async () => {
  const r = await runBin('realize-serve', ['--stdio', '--root', '/nonexistent/realize/x']);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^realize-serve: arena root: directory \/nonexistent\/realize\/x is not available .*\n$/);
});
