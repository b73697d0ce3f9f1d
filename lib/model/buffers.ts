// Large buffers reused from one range to the next: memory never touched
// before costs more to fault in than to fill (about 0.3 CPU-s per GiB moved
// on the VM Realize is developed on), and a reused buffer is still mapped.

export class BufferPool {
  readonly #free: Buffer[] = [];
  readonly #keep: number;

  /** Keeps at most `keep` buffers between uses. */
  constructor(keep: number) {
    this.#keep = keep;
  }

  /** A buffer of at least `size` bytes. */
  take(size: number): Buffer {
    const i = this.#free.findIndex((b) => b.length >= size);
    return i >= 0 ? this.#free.splice(i, 1)[0]! : Buffer.allocUnsafeSlow(size);
  }

  /**
   * Hands `b` back once nothing refers to its bytes any more (never after a
   * failure: a cancelled write may still hold them). A full pool keeps the
   * largest: the tail of a file must not leave the next file's full ranges
   * allocating afresh.
   */
  give(b: Buffer): void {
    if (this.#free.length < this.#keep) {
      this.#free.push(b);
      return;
    }
    let smallest = 0;
    this.#free.forEach((f, i) => {
      if (f.length < this.#free[smallest]!.length) smallest = i;
    });
    if (this.#free[smallest]!.length < b.length) this.#free[smallest] = b;
  }
}

/**
 * `pieces` with each run of adjacent views of one memory (the files of one
 * fetched batch) made one view: a frame of a hundred small files then goes
 * out as one piece, neither copied nor written as a hundred.
 */
export function joinAdjacent(pieces: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const p of pieces) {
    if (p.length === 0) continue;
    const last = out[out.length - 1];
    if (last && last.buffer === p.buffer && last.byteOffset + last.length === p.byteOffset) {
      out[out.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + p.length);
    } else out.push(p);
  }
  return out;
}
