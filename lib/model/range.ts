// Byte ranges of a file: one half-open range [start, end), and a normalized
// set of them (sorted, disjoint, never adjacent, never empty) with the set
// operations the sync and the cache need. Request ranges from the wire are
// validated here, once, by `checkRange`.
import { RealizeError } from './errors.js';

/** Largest offset or size accepted anywhere: 2^53 - 1, so every byte count is an exact JS number. */
export const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

/** A half-open byte range [start, end) of non-negative safe integers. May be empty. */
export class ByteRange {
  readonly start: number;
  readonly end: number;

  constructor(start: number, end: number) {
    if (!isOffset(start) || !isOffset(end)) {
      throw new RealizeError('path', `invalid byte range [${String(start)}, ${String(end)}): bounds must be integers from 0 to 2^53-1`);
    }
    if (end < start) throw new RealizeError('path', `invalid byte range [${start}, ${end}): end before start`);
    this.start = start;
    this.end = end;
  }

  /** The range of `length` bytes from `offset`. */
  static at(offset: number, length: number): ByteRange {
    return new ByteRange(offset, offset + length);
  }

  get length(): number {
    return this.end - this.start;
  }

  get isEmpty(): boolean {
    return this.end === this.start;
  }

  /** Whether the byte at `offset` lies in the range, or `range` lies entirely inside it. */
  contains(what: number | ByteRange): boolean {
    if (typeof what === 'number') return what >= this.start && what < this.end;
    return what.isEmpty || (what.start >= this.start && what.end <= this.end);
  }

  overlaps(other: ByteRange): boolean {
    return this.start < other.end && other.start < this.end;
  }

  /** The common part, or undefined when they do not overlap. */
  intersect(other: ByteRange): ByteRange | undefined {
    const start = Math.max(this.start, other.start);
    const end = Math.min(this.end, other.end);
    return start < end ? new ByteRange(start, end) : undefined;
  }

  equals(other: ByteRange): boolean {
    return this.start === other.start && this.end === other.end;
  }

  toString(): string {
    return `[${this.start}, ${this.end})`;
  }

  toJSON(): [number, number] {
    return [this.start, this.end];
  }
}

/**
 * A set of bytes as a normalized list of ranges: sorted, disjoint, not
 * adjacent, none empty. Immutable; every operation returns a new set and
 * runs in time linear in the number of ranges.
 */
export class ByteRanges implements Iterable<ByteRange> {
  static readonly EMPTY = new ByteRanges([]);
  readonly #ranges: readonly ByteRange[];

  private constructor(normalized: ByteRange[]) {
    this.#ranges = normalized;
  }

  /** The union of any ranges, in any order, overlapping or not. */
  static of(...ranges: ByteRange[]): ByteRanges {
    return ByteRanges.from(ranges);
  }

  static from(ranges: Iterable<ByteRange>): ByteRanges {
    return ByteRanges.#normalize([...ranges].sort((a, b) => a.start - b.start));
  }

  /** Merges ranges already sorted by start. */
  static #normalize(sorted: readonly ByteRange[]): ByteRanges {
    const out: ByteRange[] = [];
    for (const r of sorted) {
      if (r.isEmpty) continue;
      const last = out[out.length - 1];
      if (last && r.start <= last.end) {
        if (r.end > last.end) out[out.length - 1] = new ByteRange(last.start, r.end);
      } else {
        out.push(r);
      }
    }
    return new ByteRanges(out);
  }

  /** Parses the `toJSON()` form, validating every bound. */
  static fromJSON(pairs: unknown): ByteRanges {
    if (!Array.isArray(pairs)) throw new RealizeError('path', 'invalid byte ranges: expected a list of [start, end] pairs');
    return ByteRanges.from(
      pairs.map((p: unknown) => {
        if (!Array.isArray(p) || p.length !== 2) throw new RealizeError('path', 'invalid byte ranges: expected a list of [start, end] pairs');
        return new ByteRange(p[0] as number, p[1] as number);
      }),
    );
  }

  /** Number of disjoint ranges. */
  get count(): number {
    return this.#ranges.length;
  }

  get isEmpty(): boolean {
    return this.#ranges.length === 0;
  }

  /** Number of bytes in the set. */
  get totalBytes(): number {
    let n = 0;
    for (const r of this.#ranges) n += r.length;
    return n;
  }

  /** The smallest range holding every byte of the set, or undefined when empty. */
  get bounds(): ByteRange | undefined {
    const first = this.#ranges[0];
    const last = this.#ranges[this.#ranges.length - 1];
    return first && last ? new ByteRange(first.start, last.end) : undefined;
  }

  [Symbol.iterator](): Iterator<ByteRange> {
    return this.#ranges[Symbol.iterator]();
  }

  toArray(): ByteRange[] {
    return [...this.#ranges];
  }

  /** Whether the set holds the byte at `offset`, or every byte of `what`. */
  contains(what: number | ByteRange | ByteRanges): boolean {
    if (what instanceof ByteRanges) return what.subtract(this).isEmpty;
    if (typeof what === 'number') {
      const r = this.#find(what);
      return r !== undefined && r.contains(what);
    }
    if (what.isEmpty) return true;
    const r = this.#find(what.start);
    return r !== undefined && r.contains(what);
  }

  union(other: ByteRanges | ByteRange): ByteRanges {
    const o = asRanges(other);
    if (o.isEmpty) return this;
    if (this.isEmpty) return o;
    return ByteRanges.#normalize(merge(this.#ranges, o.#ranges));
  }

  intersection(other: ByteRanges | ByteRange): ByteRanges {
    const a = this.#ranges;
    const b = asRanges(other).#ranges;
    const out: ByteRange[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length && j < b.length) {
      const x = a[i]!;
      const y = b[j]!;
      const common = x.intersect(y);
      if (common) out.push(common);
      if (x.end < y.end) i++;
      else j++;
    }
    return new ByteRanges(out);
  }

  /** The bytes of this set that are not in `other`. */
  subtract(other: ByteRanges | ByteRange): ByteRanges {
    const b = asRanges(other).#ranges;
    if (b.length === 0) return this;
    const out: ByteRange[] = [];
    let j = 0;
    for (const r of this.#ranges) {
      let start = r.start;
      while (j < b.length && b[j]!.end <= start) j++;
      let k = j;
      while (k < b.length && b[k]!.start < r.end) {
        const cut = b[k]!;
        if (cut.start > start) out.push(new ByteRange(start, cut.start));
        start = Math.max(start, cut.end);
        if (start >= r.end) break;
        k++;
      }
      if (start < r.end) out.push(new ByteRange(start, r.end));
    }
    return new ByteRanges(out);
  }

  /** The bytes of [0, size) that are not in the set: what is still missing of a file. */
  complement(size: number): ByteRanges {
    return ByteRanges.of(new ByteRange(0, size)).subtract(this);
  }

  equals(other: ByteRanges): boolean {
    const a = this.#ranges;
    const b = other.#ranges;
    return a.length === b.length && a.every((r, i) => r.equals(b[i]!));
  }

  toString(): string {
    return this.#ranges.map(String).join(' ') || '(none)';
  }

  toJSON(): [number, number][] {
    return this.#ranges.map((r) => r.toJSON());
  }

  /** The last range starting at or before `offset` (binary search). */
  #find(offset: number): ByteRange | undefined {
    let lo = 0;
    let hi = this.#ranges.length - 1;
    let found: ByteRange | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.#ranges[mid]!;
      if (r.start <= offset) {
        found = r;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }
}

/**
 * Validates a request's range: `offset` and `length` are non-negative
 * integers (numbers or bigints) whose end stays at or below 2^53 - 1, and, when
 * `fileSize` is given, within the file. Throws RealizeError('path').
 */
export function checkRange(offset: unknown, length: unknown, fileSize?: number): ByteRange {
  const start = toOffset(offset, 'offset');
  const len = toOffset(length, 'length');
  if (len > MAX_OFFSET - start) {
    throw new RealizeError('path', `invalid range: offset ${start} + length ${len} is beyond 2^53-1`);
  }
  const end = start + len;
  if (fileSize !== undefined) {
    const size = toOffset(fileSize, 'file size');
    if (end > size) throw new RealizeError('path', `invalid range [${start}, ${end}): beyond the end of the file (${size} bytes)`);
  }
  return new ByteRange(start, end);
}

/** Consecutive ranges of at most `rangeSize` bytes covering [0, size); none for size 0. */
export function splitRanges(size: number, rangeSize: number): ByteRange[] {
  return splitRange(new ByteRange(0, size), rangeSize);
}

/** Consecutive ranges of at most `rangeSize` bytes covering `range`, cut at multiples of `rangeSize`. */
export function splitRange(range: ByteRange, rangeSize: number): ByteRange[] {
  if (!Number.isSafeInteger(rangeSize) || rangeSize <= 0) {
    throw new RealizeError('path', `invalid range size ${String(rangeSize)}: must be a positive integer`);
  }
  const out: ByteRange[] = [];
  let start = range.start;
  while (start < range.end) {
    const end = Math.min(range.end, (Math.floor(start / rangeSize) + 1) * rangeSize);
    out.push(new ByteRange(start, end));
    start = end;
  }
  return out;
}

function isOffset(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function toOffset(value: unknown, what: string): number {
  if (typeof value === 'bigint') {
    if (value >= 0n && value <= BigInt(MAX_OFFSET)) return Number(value);
  } else if (isOffset(value)) {
    return value;
  }
  throw new RealizeError('path', `invalid range: ${what} ${describe(value)} must be an integer from 0 to 2^53-1`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40));
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return `(${value === null ? 'null' : typeof value})`;
}

function asRanges(x: ByteRanges | ByteRange): ByteRanges {
  return x instanceof ByteRanges ? x : ByteRanges.of(x);
}

function merge(a: readonly ByteRange[], b: readonly ByteRange[]): ByteRange[] {
  const out: ByteRange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]!.start <= b[j]!.start)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}
