// Sizes, rates and durations: the one place that parses them from people
// (config, command line) and formats them back for people. Multiples are
// binary: 1k = 1024 bytes.
import { RealizeError } from './errors.js';

const SIZE_UNITS = ['', 'k', 'M', 'G', 'T'] as const;
const SIZE_POWER: Record<string, number> = { '': 0, k: 1, m: 2, g: 3, t: 4 };
const SIZE_RE = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([kmgt]?)(i?b)?\s*$/i;

/**
 * Parses a size: plain bytes (`1048576`), or a number with k, M, G or T
 * (`512k`, `1.5M`, `20G`), case-insensitive, with an optional `B` or `iB`
 * (`20GB`, `20GiB`). A number (from TOML) must be a non-negative integer.
 * Fractions of a byte are rounded down. Throws RealizeError('usage').
 */
export function parseSize(text: string | number | bigint, what = 'size'): number {
  if (typeof text === 'number' || typeof text === 'bigint') {
    const n = typeof text === 'bigint' && text <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(text) : text;
    if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) return n;
    throw new RealizeError('usage', `invalid ${what} ${String(text)}: must be a whole number of bytes from 0 to 2^53-1`);
  }
  const m = typeof text === 'string' ? SIZE_RE.exec(text) : null;
  if (!m) throw new RealizeError('usage', `invalid ${what} ${JSON.stringify(text)}: use a number with k, M, G or T (as in 512k or 20G)`);
  const bytes = Math.floor(Number(m[1]) * 1024 ** SIZE_POWER[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(bytes)) throw new RealizeError('usage', `invalid ${what} ${JSON.stringify(text)}: too large`);
  return bytes;
}

/**
 * Parses a transfer rate in bytes per second, as for `--throttle`: a size
 * (`1M`, `512k`), optionally followed by `/s`. Zero is refused.
 */
export function parseRate(text: string | number): number {
  const body = typeof text === 'string' ? text.trim().replace(/\/s$/i, '') : text;
  let rate: number;
  try {
    rate = parseSize(body, 'rate');
  } catch {
    throw new RealizeError('usage', `invalid rate ${JSON.stringify(text)}: use bytes per second with k, M or G (as in 512k or 1M)`);
  }
  if (rate === 0) throw new RealizeError('usage', `invalid rate ${JSON.stringify(text)}: must be more than 0`);
  return rate;
}

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PART = /(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)/giy;

/**
 * Parses a duration into milliseconds: `500ms`, `30s`, `5m`, `2h`, `1d`,
 * combinations such as `1h30m`, or a plain number of seconds (`90`, `1.5`).
 * Units are case-insensitive. Throws RealizeError('usage').
 */
export function parseDuration(text: string | number): number {
  function fail(): never {
    throw new RealizeError('usage', `invalid duration ${JSON.stringify(text)}: use a number with ms, s, m, h or d (as in 30s or 5m)`);
  }
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) fail();
    return checkMs(Math.round(text * 1000), fail);
  }
  if (typeof text !== 'string') return fail();
  const s = text.trim();
  if (/^(\d+(?:\.\d+)?|\.\d+)$/.test(s)) return checkMs(Math.round(Number(s) * 1000), fail);
  if (s === '') fail();
  let ms = 0;
  let pos = 0;
  while (pos < s.length) {
    DURATION_PART.lastIndex = pos;
    const m = DURATION_PART.exec(s);
    if (!m) fail();
    ms += Number(m[1]) * DURATION_MS[m[2]!.toLowerCase()]!;
    pos = DURATION_PART.lastIndex;
    while (s[pos] === ' ') pos++;
  }
  return checkMs(Math.round(ms), fail);
}

function checkMs(ms: number, fail: () => never): number {
  return Number.isSafeInteger(ms) ? ms : fail();
}

/**
 * A size for people, as `ls -h` prints it: `3.0G`, `100M`, `300k`, `512B`.
 * One decimal below 10 units, none above.
 */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return `${bytes}B`;
  if (bytes < 1024) return `${Math.round(bytes)}B`;
  let unit = 1;
  while (unit < SIZE_UNITS.length - 1 && bytes >= 1024 ** (unit + 1)) unit++;
  for (; unit < SIZE_UNITS.length; unit++) {
    const v = bytes / 1024 ** unit;
    const text = v < 9.95 ? v.toFixed(1) : String(Math.round(v));
    if (Number(text) < 1024 || unit === SIZE_UNITS.length - 1) return text + SIZE_UNITS[unit];
  }
  /* c8 ignore next */
  return `${bytes}B`;
}

/** A rate for people: `300k/s`, `1.5M/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatSize(bytesPerSecond)}/s`;
}

/** A duration for people: `500ms`, `4.2s`, `59s`, `5m`, `2h3m`, `1d4h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return `${ms}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 9950) return `${(Math.round(ms / 100) / 10).toFixed(1)}s`;
  const total = Math.round(ms / 1000);
  if (total < 60) return `${total}s`;
  const d = Math.floor(total / 86_400);
  const h = Math.floor((total % 86_400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (d > 0) return h ? `${d}d${h}h` : `${d}d`;
  if (h > 0) return m ? `${h}h${m}m` : `${h}h`;
  return s ? `${m}m${s}s` : `${m}m`;
}
