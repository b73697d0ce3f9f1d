import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RealizeError } from '../../lib/model/errors.js';
import { formatDuration, formatRate, formatSize, parseDuration, parseRate, parseSize } from '../../lib/model/units.js';

test('parseSize reads bytes and binary multiples, case-insensitive, B optional', () => {
  const cases: [string | number | bigint, number][] = [
    ['0', 0],
    ['100', 100],
    ['512k', 512 * 1024],
    ['512K', 512 * 1024],
    ['512kB', 512 * 1024],
    ['512KiB', 512 * 1024],
    ['1.5M', 1.5 * 2 ** 20],
    ['1.5m', 1.5 * 2 ** 20],
    ['20G', 20 * 2 ** 30],
    ['20gb', 20 * 2 ** 30],
    [' 2 T ', 2 * 2 ** 40],
    ['100B', 100],
    ['.5k', 512],
    ['1.1k', 1126],
    [1024, 1024],
    [5n, 5],
  ];
  for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, String(text));
});

test('parseSize refuses nonsense with a clear message', () => {
  assert.throws(() => parseSize('12Q'), { message: 'invalid size "12Q": use a number with k, M, G or T (as in 512k or 20G)' });
  for (const bad of ['', 'k', '-1', '1.', '1e3', '1 2k', '12kk', 'ten']) {
    assert.throws(() => parseSize(bad), (e: unknown) => e instanceof RealizeError && e.code === 'usage', bad);
  }
  assert.throws(() => parseSize(-1), /whole number/);
  assert.throws(() => parseSize(1.5), /whole number/);
  assert.throws(() => parseSize('99999999T'), /too large/);
});

test('parseRate is a size per second, optional /s, never zero', () => {
  assert.equal(parseRate('1M'), 2 ** 20);
  assert.equal(parseRate('512k/s'), 512 * 1024);
  assert.throws(() => parseRate('0'), /more than 0/);
  assert.throws(() => parseRate('fast'), /invalid rate "fast"/);
});

test('parseDuration reads ms, s, m, h, d, combinations and plain seconds', () => {
  const cases: [string | number, number][] = [
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1m 30s', 90_000],
    ['1.5s', 1500],
    ['90', 90_000],
    ['0.25', 250],
    ['5M', 300_000],
    [30, 30_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, String(text));
  for (const bad of ['', 'm', '5x', '5 minutes', '-5s', 's5', '1h30']) {
    assert.throws(() => parseDuration(bad), (e: unknown) => e instanceof RealizeError && /^invalid duration .*: use a number with ms, s, m, h or d/.test(e.message), bad);
  }
});

test('formatSize prints what people expect', () => {
  const cases: [number, string][] = [
    [0, '0B'],
    [1023, '1023B'],
    [1024, '1.0k'],
    [300 * 1024, '300k'],
    [1536, '1.5k'],
    [100 * 2 ** 20, '100M'],
    [3221225472, '3.0G'],
    [2.5 * 2 ** 30, '2.5G'],
    [2 ** 20 - 1, '1.0M'],
    [10 * 2 ** 40, '10T'],
    [5000 * 2 ** 40, '5000T'],
  ];
  for (const [bytes, text] of cases) assert.equal(formatSize(bytes), text, String(bytes));
  assert.equal(formatRate(300 * 1024), '300k/s');
  // What formatSize prints, parseSize reads back (to the precision shown).
  for (const [bytes, text] of cases) assert.ok(Math.abs(parseSize(text) - bytes) <= bytes * 0.05 + 1, text);
});

test('formatDuration prints what people expect', () => {
  const cases: [number, string][] = [
    [500, '500ms'],
    [4200, '4.2s'],
    [59_000, '59s'],
    [300_000, '5m'],
    [90_000, '1m30s'],
    [7_380_000, '2h3m'],
    [100_800_000, '1d4h'],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
});
