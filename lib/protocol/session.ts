// A Realize session over any duplex byte stream. Symmetric: each side may
// send requests and answer the other's (so a deaf peer can serve on the
// connection it opened, and either side may subscribe to history). Requests
// carry ids and may be in flight concurrently; a request may stream events
// before its response (list pages, history subscriptions).
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { RealizeError, isErrorCode, toRealizeError } from '../model/errors.js';
import { FrameDecoder, Kind, encodeFrame, encodePreamble, type Bulk, type Frame } from './frame.js';

export interface Hello {
  /** Name of the peer speaking (informational; identity comes from the transport's keys). */
  peer: string;
  /** Arenas this side grants the other. */
  arenas: string[];
  /** The machine's host name, sent by every session (none from an older side): two ends on one machine may hold one file. */
  host?: string;
}

export interface Reply {
  result?: unknown;
  /** Complete: its pieces as they arrived, or joined with buffer(). */
  bulk: Bulk;
}

/** What a handler answers: its bulk may be pieces, written as they are. */
export interface Answer {
  result?: unknown;
  bulk?: Buffer | readonly Buffer[];
}

export interface CallContext {
  /** Sends an event tied to this request, before its response. */
  emit(event: unknown, bulk?: Buffer): void;
  /** Aborted when the caller cancels or the session closes. */
  signal: AbortSignal;
  /** Marks a request that lasts until cancelled (a subscription): a graceful stop does not wait for it. */
  longLived(): void;
}

export interface Handler {
  (method: string, args: unknown, bulk: Bulk, ctx: CallContext): Promise<Answer>;
  /** Methods whose requests are served as soon as their metadata arrives, their bulk still coming (see Bulk.consume). */
  streams?: ReadonlySet<string>;
}

type Method = ((args: Record<string, unknown>, bulk: Bulk, ctx: CallContext) => Promise<Answer>) & { streamed?: true };

/** A service's methods by name; arguments are an object, still to be validated by the method. */
export type MethodTable = Record<string, Method>;

/** Marks a method that takes its request's bulk as it arrives (Bulk.consume) rather than whole. */
export function streamed(method: Method): Method {
  return Object.assign(method, { streamed: true as const });
}

/** One handler serving the methods of several services (RealizeService, HistoryService). */
export function handlerOf(...tables: MethodTable[]): Handler {
  const handler: Handler = async (method, args, bulk, ctx) => {
    const table = tables.find((t) => Object.hasOwn(t, method));
    if (!table) throw new RealizeError('protocol', `unknown request ${JSON.stringify(method).slice(0, 64)}`);
    if (typeof args !== 'object' || args === null) throw new RealizeError('protocol', 'malformed request arguments');
    return table[method]!(args as Record<string, unknown>, bulk, ctx);
  };
  handler.streams = new Set(tables.flatMap((t) => Object.keys(t).filter((m) => t[m]!.streamed)));
  return handler;
}

export interface CallOptions {
  /** Raw bytes sent with the request, in one buffer or in pieces. */
  bulk?: Buffer | readonly Buffer[];
  onEvent?: (event: unknown, bulk: Buffer) => void;
  signal?: AbortSignal;
}

export interface SessionOptions {
  hello: Hello;
  /** Answers the other side's requests; without it every request is refused. */
  handler?: Handler;
  /** Requests of the other side served at once; more wait (reading pauses). */
  maxInFlight?: number;
  maxFrame?: number;
  /** A streamed request whose bytes stop coming for this long ends the session (default 60 s). */
  stallMs?: number;
}

interface Pending {
  resolve(reply: Reply): void;
  reject(err: Error): void;
  onEvent?: CallOptions['onEvent'];
}

/**
 * Events: 'close' (error?: RealizeError) once, when the stream ends or a fatal
 * error tore the session down.
 */
export class Session extends EventEmitter {
  readonly ready: Promise<Hello>;
  bytesSent = 0;
  bytesReceived = 0;
  #stream: Duplex;
  #decoder: FrameDecoder;
  #handler?: Handler;
  #pending = new Map<number, Pending>();
  #serving = new Map<number, AbortController>();
  /** Requests a graceful stop waits for (all but the long-lived ones). */
  #busy = new Set<number>();
  #nextId = 1;
  #maxInFlight: number;
  #paused = false;
  #closed: RealizeError | null | undefined;
  #remoteHello?: Hello;
  #helloResolve!: (h: Hello) => void;
  #helloReject!: (e: Error) => void;

  constructor(stream: Duplex, opts: SessionOptions) {
    super();
    this.#stream = stream;
    const streams = opts.handler?.streams;
    this.#decoder = new FrameDecoder(opts.maxFrame, streams && ((kind, meta) => kind === Kind.Request && streams.has((meta as { method?: unknown } | null)?.method as string)));
    this.#handler = opts.handler;
    this.#maxInFlight = opts.maxInFlight ?? 16;
    this.#watchStalls(opts.stallMs ?? 60_000);
    this.ready = new Promise<Hello>((resolve, reject) => {
      this.#helloResolve = resolve;
      this.#helloReject = reject;
    });
    this.ready.catch(() => {});
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('end', () => this.#fail(this.#remoteHello ? null : new RealizeError('network', 'the peer closed the connection before the hello')));
    stream.on('close', () => this.#fail(null));
    stream.on('error', (err) => this.#fail(toRealizeError(err)));
    this.#write([encodePreamble(), ...encodeFrame(Kind.Hello, 0, { ...opts.hello, host: hostname() })]);
  }

  get remote(): Hello | undefined {
    return this.#remoteHello;
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Sends a request and waits for its response. */
  async call(method: string, args: unknown, opts: CallOptions = {}): Promise<Reply> {
    await this.ready;
    if (this.#closed !== undefined) throw this.#closed ?? new RealizeError('network', 'the session is closed');
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onEvent: opts.onEvent });
      if (opts.signal) {
        const abort = () => {
          if (!this.#pending.delete(id)) return;
          this.#write(encodeFrame(Kind.Cancel, id, null));
          reject(new RealizeError('interrupted', `${method} cancelled`));
        };
        if (opts.signal.aborted) return abort();
        opts.signal.addEventListener('abort', abort, { once: true });
      }
      this.#write(encodeFrame(Kind.Request, id, { method, args }, opts.bulk));
    });
  }

  /** Resolves once no request of the other side is being served, subscriptions aside (for a graceful stop). */
  async drain(): Promise<void> {
    while (this.#busy.size > 0 && this.#closed === undefined) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Ends the session; pending calls fail. */
  close(err?: RealizeError): void {
    this.#fail(err ?? null);
  }

  /**
   * A peer that goes silent in the middle of a streamed request (a
   * connection dropped without a word: no FIN ever comes) would leave its
   * request, and the partial file it holds locked, waiting for good. Bytes
   * that stop for `stallMs` mid-request end the session instead.
   */
  #watchStalls(stallMs: number): void {
    let seen = -1;
    let since = Date.now();
    const timer = setInterval(() => {
      if (this.#closed !== undefined) return clearInterval(timer);
      if (!this.#decoder.streaming || this.bytesReceived !== seen) {
        seen = this.bytesReceived;
        since = Date.now();
      } else if (Date.now() - since >= stallMs) {
        this.#fail(new RealizeError('network', `no data for ${Math.round(stallMs / 1000)} s in the middle of a request: the connection looks dead`));
      }
    }, Math.min(stallMs / 4, 15_000));
    timer.unref();
  }

  #onData(chunk: Buffer): void {
    if (this.#closed !== undefined) return;
    this.bytesReceived += chunk.length;
    let frames: Frame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (err) {
      return this.#fail(toRealizeError(err));
    }
    for (const f of frames) {
      try {
        this.#dispatch(f);
      } catch (err) {
        return this.#fail(toRealizeError(err));
      }
    }
    this.#throttleReading();
  }

  #dispatch(f: Frame): void {
    if (f.kind === Kind.Hello) return this.#onHello(f.meta);
    if (!this.#remoteHello) throw new RealizeError('protocol', 'the peer sent a request before its hello');
    switch (f.kind) {
      case Kind.Request:
        return this.#serve(f);
      case Kind.Response:
      case Kind.Error: {
        const p = this.#pending.get(f.id);
        if (!p) return; // cancelled meanwhile
        this.#pending.delete(f.id);
        if (f.kind === Kind.Response) p.resolve({ result: f.meta, bulk: f.bulk });
        else p.reject(remoteError(f.meta));
        return;
      }
      case Kind.Event:
        this.#pending.get(f.id)?.onEvent?.(f.meta, f.bulk.buffer());
        return;
      case Kind.Cancel:
        this.#serving.get(f.id)?.abort();
        return;
    }
  }

  #onHello(meta: unknown): void {
    if (this.#remoteHello) throw new RealizeError('protocol', 'the peer sent a second hello');
    const h = meta as Partial<Hello> | null;
    if (!h || typeof h.peer !== 'string' || !Array.isArray(h.arenas) || !h.arenas.every((a) => typeof a === 'string')) {
      throw new RealizeError('protocol', 'the peer sent a malformed hello');
    }
    this.#remoteHello = { peer: h.peer, arenas: h.arenas, ...(typeof h.host === 'string' ? { host: h.host } : {}) };
    this.#helloResolve(this.#remoteHello);
  }

  #serve(f: Frame): void {
    const req = f.meta as { method?: unknown; args?: unknown } | null;
    const id = f.id;
    if (this.#serving.has(id)) throw new RealizeError('protocol', `the peer reused request id ${id}`);
    const controller = new AbortController();
    this.#serving.set(id, controller);
    this.#busy.add(id);
    this.#throttleReading();
    const ctx: CallContext = {
      signal: controller.signal,
      longLived: () => {
        this.#busy.delete(id);
      },
      emit: (event, bulk) => {
        if (!controller.signal.aborted && this.#closed === undefined) this.#write(encodeFrame(Kind.Event, id, event, bulk));
      },
    };
    const run = async (): Promise<Buffer[]> => {
      if (!req || typeof req.method !== 'string') throw new RealizeError('protocol', 'malformed request');
      if (!this.#handler) throw new RealizeError('auth', 'this side serves no requests');
      const reply = await this.#handler(req.method, req.args, f.bulk, ctx);
      // Encoded here: a reply that cannot be (too large for a frame) is answered as an error.
      return encodeFrame(Kind.Response, id, reply.result ?? null, reply.bulk);
    };
    run().then(
      (frame) => this.#answer(id, controller, frame, f.bulk),
      (err) => {
        const e = toRealizeError(err);
        this.#answer(id, controller, encodeFrame(Kind.Error, id, errorToWire(e)), f.bulk);
      },
    );
  }

  #answer(id: number, controller: AbortController, frame: Buffer[], bulk: Bulk): void {
    // A request that ended without taking all its bulk (it failed first): the rest is dropped as it arrives.
    if (!bulk.complete) bulk.discard();
    this.#serving.delete(id);
    this.#busy.delete(id);
    this.#throttleReading();
    if (controller.signal.aborted || this.#closed !== undefined) return;
    this.#write(frame);
  }

  /**
   * Bounds memory: stop reading while too many requests are being served,
   * but never in the middle of a streamed request's bulk, which its own
   * request waits for.
   */
  #throttleReading(): void {
    const busy = this.#serving.size >= this.#maxInFlight && !this.#decoder.streaming;
    if (busy && !this.#paused) {
      this.#paused = true;
      this.#stream.pause();
    } else if (!busy && this.#paused) {
      this.#paused = false;
      this.#stream.resume();
    }
  }

  #write(buffers: Buffer[]): void {
    if (this.#closed !== undefined) return;
    // One frame, one writev: its header, metadata and bulk leave together.
    this.#stream.cork();
    for (const b of buffers) {
      this.bytesSent += b.length;
      this.#stream.write(b);
    }
    this.#stream.uncork();
  }

  /** The one exit: tears the stream down and reports once. */
  #fail(err: RealizeError | null): void {
    if (this.#closed !== undefined) return;
    this.#closed = err;
    const reason = err ?? new RealizeError('network', 'the connection closed');
    for (const p of this.#pending.values()) p.reject(reason);
    this.#pending.clear();
    for (const c of this.#serving.values()) c.abort();
    this.#serving.clear();
    this.#busy.clear();
    this.#helloReject(reason);
    this.#decoder.abort(reason);
    if (err) this.#stream.destroy();
    else this.#stream.end();
    this.emit('close', err ?? undefined);
  }
}

/** An error as it crosses the wire: its code and message. */
export function errorToWire(e: RealizeError): { code: string; message: string } {
  return { code: e.code, message: e.message };
}

/** An error as the other side sent it ({ code, message }), checked. */
export function remoteError(meta: unknown): RealizeError {
  const m = meta as { code?: unknown; message?: unknown } | null;
  const code = isErrorCode(m?.code) ? m.code : 'io';
  const message = typeof m?.message === 'string' ? m.message.slice(0, 1000) : 'the peer reported an error';
  return new RealizeError(code, message);
}
