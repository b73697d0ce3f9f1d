// Framing of the Realize protocol: a pure codec, no I/O.
//
// Each side first writes a preamble, then frames:
//
//   preamble: "REALIZE\n" (8 bytes) | version u16 BE
//   frame:    length u32 BE    bytes after this field (9 + metaLength + bulk)
//             kind   u8        Kind below
//             id     u32 BE    request id chosen by the side that sent the request
//             metaLength u32 BE
//             meta   JSON, UTF-8 (method and arguments, results, errors, events)
//             bulk   raw bytes, never re-encoded (file data, signatures, deltas)
import { RealizeError } from '../model/errors.js';
import { byteLength, type IncomingBytes } from '../model/service.js';

export const MAGIC = Buffer.from('REALIZE\n', 'latin1');
export const PROTOCOL_VERSION = 4;
export const PREAMBLE_SIZE = MAGIC.length + 2;
/** Largest frame accepted: a range of data (8 MiB by default, at most 32 MiB) plus metadata. */
export const MAX_FRAME = 33 << 20;
/** Largest JSON part of a frame. */
export const MAX_META = 4 << 20;
const HEADER = 13;

export enum Kind {
  Hello = 1,
  Request = 2,
  Response = 3,
  Error = 4,
  Event = 5,
  Cancel = 6,
}

/**
 * A frame's raw bytes in the pieces they arrived in: file data is written on
 * as it is (writev), without first being copied into one large buffer,
 * which costs more than the write itself. Joined only when one buffer is
 * needed. The bulk of a streamed request is handed over before it is all
 * there: `consume` passes each piece on as it arrives, so data reaches the
 * disk while it is still in the cache.
 */
export class Bulk implements IncomingBytes {
  readonly length: number;
  #chunks: Buffer[];
  #have: number;
  #joined: Buffer | undefined;
  #each: ((piece: Buffer) => void) | undefined;
  #settle: ((err?: unknown) => void) | undefined;
  #failed: unknown;
  #discarding = false;

  /** Complete with `chunks`, or open for `length` bytes still to arrive. */
  constructor(chunks: readonly Buffer[], length = byteLength(chunks)) {
    this.#chunks = [...chunks];
    this.#have = byteLength(chunks);
    this.length = length;
  }

  get complete(): boolean {
    return this.#have === this.length;
  }

  /** The pieces, once complete (a streamed bulk is consumed instead). */
  get chunks(): readonly Buffer[] {
    if (!this.complete) throw new RealizeError('protocol', 'the bulk of this request is still arriving');
    return this.#chunks;
  }

  /** The bytes as one buffer (joined once, on first use). */
  buffer(): Buffer {
    const chunks = this.chunks;
    return (this.#joined ??= chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks as Buffer[], this.length));
  }

  /**
   * The bytes, once complete, cut into consecutive parts of `lengths` (which
   * add up to the length): a part inside one piece is a view of it, only a
   * part that spans pieces is copied.
   */
  parts(lengths: readonly number[]): Buffer[] {
    const chunks = this.chunks;
    const out: Buffer[] = [];
    let c = 0;
    let at = 0;
    for (const length of lengths) {
      while (c < chunks.length && at === chunks[c]!.length) {
        c++;
        at = 0;
      }
      const chunk = chunks[c];
      if (chunk && at + length <= chunk.length) {
        out.push(chunk.subarray(at, at + length));
        at += length;
        continue;
      }
      const part = Buffer.allocUnsafe(length);
      for (let have = 0; have < length; ) {
        const from = chunks[c]!;
        const n = from.copy(part, have, at, Math.min(from.length, at + length - have));
        have += n;
        at += n;
        if (at === from.length) {
          c++;
          at = 0;
        }
      }
      out.push(part);
    }
    return out;
  }

  consume(each: (piece: Buffer) => void): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#each || this.#discarding) return Promise.reject(new RealizeError('protocol', 'the bulk of this request was already taken'));
    return new Promise<void>((resolve, reject) => {
      this.#settle = (err) => (err === undefined ? resolve() : reject(err));
      this.#each = each;
      const held = this.#chunks;
      this.#chunks = [];
      for (const piece of held) this.#deliver(piece);
      this.#check();
    });
  }

  /** Pieces from now on are dropped (the request ended without taking them all). */
  discard(): void {
    this.#discarding = true;
    this.#chunks = [];
  }

  /** The decoder's next piece of an open bulk. */
  add(piece: Buffer): void {
    this.#have += piece.length;
    if (this.#discarding) return;
    if (this.#each) this.#deliver(piece);
    else this.#chunks.push(piece);
    this.#check();
  }

  /** The rest will never arrive (the session closed). */
  fail(err: unknown): void {
    this.#failed ??= err;
    this.#discarding = true;
    this.#chunks = [];
    this.#settle?.(this.#failed);
    this.#settle = undefined;
  }

  #deliver(piece: Buffer): void {
    if (this.#failed !== undefined) return;
    try {
      this.#each!(piece);
    } catch (err) {
      // What could not be taken is dropped as it arrives; the caller learns why at once.
      this.fail(err);
    }
  }

  #check(): void {
    if (this.complete && this.#settle) {
      this.#settle(this.#failed);
      this.#settle = undefined;
    }
  }
}

export interface Frame {
  kind: Kind;
  id: number;
  meta: unknown;
  bulk: Bulk;
}

export function encodePreamble(version = PROTOCOL_VERSION): Buffer {
  const b = Buffer.alloc(PREAMBLE_SIZE);
  MAGIC.copy(b, 0);
  b.writeUInt16BE(version, MAGIC.length);
  return b;
}

/** The buffers of one frame, to write in order (bulk is not copied). */
export function encodeFrame(kind: Kind, id: number, meta: unknown, bulk?: Buffer | readonly Buffer[]): Buffer[] {
  const json = Buffer.from(JSON.stringify(meta ?? null), 'utf8');
  const pieces = bulk === undefined ? [] : Buffer.isBuffer(bulk) ? [bulk] : bulk;
  const bulkLength = byteLength(pieces);
  if (json.length > MAX_META) throw new RealizeError('protocol', `message metadata of ${json.length} bytes is over the ${MAX_META}-byte limit`);
  if (HEADER - 4 + json.length + bulkLength > MAX_FRAME) throw new RealizeError('protocol', `frame of ${bulkLength} bytes is over the ${MAX_FRAME}-byte limit`);
  const head = Buffer.allocUnsafe(HEADER);
  head.writeUInt32BE(HEADER - 4 + json.length + bulkLength, 0);
  head.writeUInt8(kind, 4);
  head.writeUInt32BE(id >>> 0, 5);
  head.writeUInt32BE(json.length, 9);
  return [head, json, ...pieces.filter((c) => c.length > 0)];
}

/** A frame whose header and metadata arrived, its bulk still to come. */
interface Head {
  kind: Kind;
  id: number;
  meta: unknown;
  bulkLength: number;
}

/**
 * Accumulates received bytes and cuts them into frames; throws
 * RealizeError('protocol') on garbage. A frame `streams` picks is returned
 * as soon as its header and metadata are in, with an open Bulk that the
 * bytes after them feed as they arrive.
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #preamble: number | undefined;
  #head: Head | undefined;
  #open: Bulk | undefined;
  #openLeft = 0;
  readonly #maxFrame: number;
  readonly #streams: ((kind: Kind, meta: unknown) => boolean) | undefined;

  constructor(maxFrame = MAX_FRAME, streams?: (kind: Kind, meta: unknown) => boolean) {
    this.#maxFrame = maxFrame;
    this.#streams = streams;
  }

  /** The peer's protocol version, once its preamble arrived. */
  get version(): number | undefined {
    return this.#preamble;
  }

  /** True while a streamed frame's bulk is still arriving. */
  get streaming(): boolean {
    return this.#open !== undefined;
  }

  /** The connection ended: a bulk still arriving never will. */
  abort(err: unknown): void {
    this.#open?.fail(err);
    this.#open = undefined;
  }

  push(chunk: Buffer): Frame[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: Frame[] = [];
    if (this.#preamble === undefined) {
      if (this.#buffered < PREAMBLE_SIZE) {
        this.#checkMagic(this.#peek(this.#buffered));
        return frames;
      }
      const pre = this.#take(PREAMBLE_SIZE);
      this.#checkMagic(pre);
      this.#preamble = pre.readUInt16BE(MAGIC.length);
      if (this.#preamble !== PROTOCOL_VERSION) {
        throw new RealizeError('protocol', `protocol version mismatch: the peer speaks version ${this.#preamble}, this realize speaks version ${PROTOCOL_VERSION}; upgrade the older side`);
      }
    }
    for (;;) {
      if (this.#open) {
        const n = Math.min(this.#openLeft, this.#buffered);
        const bulk = this.#open;
        this.#openLeft -= n;
        if (this.#openLeft === 0) this.#open = undefined;
        for (const piece of this.#takeChunks(n)) bulk.add(piece);
        if (this.#open) break;
      }
      if (!this.#head) {
        const head = this.#readHead();
        if (!head) break;
        if (head.bulkLength > 0 && this.#streams?.(head.kind, head.meta)) {
          this.#open = new Bulk([], head.bulkLength);
          this.#openLeft = head.bulkLength;
          frames.push({ kind: head.kind, id: head.id, meta: head.meta, bulk: this.#open });
          continue;
        }
        this.#head = head;
      }
      if (this.#buffered < this.#head.bulkLength) break;
      const { kind, id, meta, bulkLength } = this.#head;
      this.#head = undefined;
      frames.push({ kind, id, meta, bulk: new Bulk(this.#takeChunks(bulkLength)) });
    }
    return frames;
  }

  /** The next frame's header and metadata, taken once they are all in. */
  #readHead(): Head | undefined {
    if (this.#buffered < 4) return undefined;
    const length = this.#peek(4).readUInt32BE(0);
    if (length > this.#maxFrame) throw new RealizeError('protocol', `frame of ${length} bytes is over the ${this.#maxFrame}-byte limit`);
    if (length < HEADER - 4) throw new RealizeError('protocol', `corrupt frame: length ${length} is shorter than a header`);
    if (this.#buffered < HEADER) return undefined;
    const head = this.#peek(HEADER);
    const metaLength = head.readUInt32BE(9);
    if (metaLength > MAX_META || HEADER - 4 + metaLength > length) throw new RealizeError('protocol', `corrupt frame: metadata length ${metaLength}`);
    if (this.#buffered < HEADER + metaLength) return undefined;
    this.#take(HEADER);
    const kind = head.readUInt8(4);
    if (!(kind in Kind) || kind === 0) throw new RealizeError('protocol', `corrupt frame: unknown kind ${kind}`);
    const json = this.#take(metaLength);
    let meta: unknown;
    try {
      meta = JSON.parse(json.toString('utf8'));
    } catch {
      throw new RealizeError('protocol', 'corrupt frame: metadata is not JSON');
    }
    return { kind, id: head.readUInt32BE(5), meta, bulkLength: 4 + length - HEADER - metaLength };
  }

  #checkMagic(start: Buffer): void {
    const n = Math.min(start.length, MAGIC.length);
    if (!start.subarray(0, n).equals(MAGIC.subarray(0, n))) {
      const shown = JSON.stringify(start.subarray(0, 24).toString('latin1'));
      throw new RealizeError('protocol', `the peer does not speak the Realize protocol (it sent ${shown})`);
    }
  }

  #peek(n: number): Buffer {
    if (this.#chunks[0]!.length >= n) return this.#chunks[0]!.subarray(0, n);
    const pieces: Buffer[] = [];
    for (let have = 0; have < n && pieces.length < this.#chunks.length; ) {
      const c = this.#chunks[pieces.length]!;
      pieces.push(c);
      have += c.length;
    }
    return Buffer.concat(pieces).subarray(0, n);
  }

  /** The next `n` buffered bytes as the pieces they arrived in (no copy). */
  #takeChunks(n: number): Buffer[] {
    const out: Buffer[] = [];
    while (n > 0) {
      const first = this.#chunks[0]!;
      if (first.length <= n) {
        out.push(first);
        this.#chunks.shift();
        n -= first.length;
        this.#buffered -= first.length;
      } else {
        out.push(first.subarray(0, n));
        this.#chunks[0] = first.subarray(n);
        this.#buffered -= n;
        n = 0;
      }
    }
    return out;
  }

  /** The next `n` buffered bytes as one buffer: copied only when they span pieces, and then only those `n` bytes. */
  #take(n: number): Buffer {
    const pieces = this.#takeChunks(n);
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, n);
  }
}
