import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RealizeError } from '../../lib/model/errors.js';
import { finalPathOf, isPartialName, isValidPath, joinPath, parsePath, partialPath, segments, MAX_PATH_BYTES } from '../../lib/model/path.js';

test('paths with colons, spaces, unicode and dots inside names are accepted', () => {
  for (const p of ['a', 'a/b/c.txt', 'c:/x', 'file:name', 'with space/ and more ', 'été/日本語/🎉.jpg', '...', '.hidden', 'a/..b', 'a/b..', 'x\\y', 'a\nb']) {
    assert.equal(parsePath(p), p, p);
  }
});

test('empty, absolute, NUL, empty segments, . and .. segments are refused', () => {
  const bad: [string, RegExp][] = [
    ['', /empty path/],
    ['/etc/passwd', /absolute/],
    ['/', /absolute/],
    ['a\0b', /NUL/],
    ['a//b', /empty segment/],
    ['a/', /empty segment/],
    ['./a', /'\.' segment/],
    ['a/./b', /'\.' segment/],
    ['.', /'\.' segment/],
    ['..', /'\.\.' segment/],
    ['a/../../b', /'\.\.' segment/],
    ['a/..', /'\.\.' segment/],
  ];
  for (const [p, why] of bad) {
    assert.throws(() => parsePath(p), (e: unknown) => e instanceof RealizeError && e.code === 'path' && why.test(e.message), JSON.stringify(p));
    assert.equal(isValidPath(p), false);
  }
});

test('overlong paths and segments are refused', () => {
  assert.throws(() => parsePath('a'.repeat(256)), /longer than 255/);
  assert.equal(parsePath('a'.repeat(255)).length, 255);
  assert.throws(() => parsePath(('a'.repeat(200) + '/').repeat(21) + 'x'), new RegExp(`longer than ${MAX_PATH_BYTES}`));
});

test('join, segments and partial forms', () => {
  assert.equal(joinPath('sub/dir', 'f.txt'), 'sub/dir/f.txt');
  assert.equal(joinPath(undefined, 'f.txt'), 'f.txt');
  assert.throws(() => joinPath('sub', '../x'));
  assert.deepEqual(segments(parsePath('a/b/c')), ['a', 'b', 'c']);
  const partial = partialPath(parsePath('dir/name.txt'));
  assert.equal(partial, 'dir/.name.txt.part');
  assert.equal(isPartialName('.name.txt.part'), true);
  assert.equal(isPartialName('.part'), false);
  assert.equal(finalPathOf(partial), 'dir/name.txt');
});
