// Bandwidth limits per direction (--throttle-up / --throttle-down), as a
// duplex wrapped around the transport's stream. Backpressure flows through:
// writes complete only once the bucket allows them, reads pause the inner
// stream while the bucket refills.
import { Duplex } from 'node:stream';

/** A token bucket in time: how long to wait before `bytes` may pass at `rate` bytes/s. */
export class Bucket {
  #nextFree = -Infinity;
  readonly #rate: number;
  readonly #burstMs: number;

  constructor(rate: number, burstMs = 100) {
    this.#rate = rate;
    this.#burstMs = burstMs;
  }

  take(bytes: number, now = Date.now()): number {
    const start = Math.max(now - this.#burstMs, this.#nextFree);
    this.#nextFree = start + (bytes / this.#rate) * 1000;
    return Math.max(0, this.#nextFree - now);
  }
}

/** Wraps `inner` so it sends at most `up` and receives at most `down` bytes per second (undefined: unlimited). */
export function throttle(inner: Duplex, up?: number, down?: number): Duplex {
  if (!up && !down) return inner;
  const upBucket = up ? new Bucket(up) : undefined;
  const downBucket = down ? new Bucket(down) : undefined;
  let waiting = false;
  const outer: Duplex = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      const wait = upBucket?.take(chunk.length) ?? 0;
      const send = () => (inner.write(chunk) ? cb() : inner.once('drain', () => cb()));
      if (wait > 0) setTimeout(send, wait);
      else send();
    },
    final(cb) {
      inner.end(cb);
    },
    read() {
      if (!waiting) inner.resume();
    },
    destroy(err, cb) {
      inner.destroy(err ?? undefined);
      cb(err);
    },
  });
  let ended = false;
  inner.on('data', (chunk: Buffer) => {
    const wait = downBucket?.take(chunk.length) ?? 0;
    if (wait <= 0) {
      if (!outer.push(chunk)) inner.pause();
      return;
    }
    // Hold the chunk until the bucket allows it; nothing else arrives meanwhile.
    waiting = true;
    inner.pause();
    setTimeout(() => {
      waiting = false;
      const more = outer.push(chunk);
      if (ended) outer.push(null);
      else if (more) inner.resume();
    }, wait);
  });
  inner.on('end', () => {
    ended = true;
    if (!waiting) outer.push(null);
  });
  inner.on('error', (err) => outer.destroy(err));
  inner.on('close', () => outer.destroy());
  return outer;
}
