// Opens an endpoint as a FileService: the Real in-process for a local
// directory, a session over ssh2 for a configured peer, a session over the
// ssh binary for HOST:PATH.
import { mkdir, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/index.js';
import { defaultHashCacheDir } from '../config/paths.js';
import { RealizeError, errnoText } from '../model/errors.js';
import type { ArenaPath } from '../model/path.js';
import type { FileService } from '../model/service.js';
import { ROOT_ARENA, RemoteFiles } from '../protocol/realize-service.js';
import { Session } from '../protocol/session.js';
import { hashCacheAt } from '../storage/hash-cache.js';
import { RealStore } from '../storage/real.js';
import { throttle } from '../transport/throttle.js';
import { dialEnd, type DialedEnd } from './dial.js';
import type { EndpointSpec } from './endpoint.js';

export interface Endpoint {
  spec: EndpointSpec;
  files: FileService;
  arena: string;
  /** Directory inside the arena this endpoint stands for. */
  prefix?: ArenaPath;
  /** Device and inode of a local directory, to refuse SRC = DST. */
  local?: { dir: string; dev: number; ino: number };
  /** The machine holding the files, as it names itself (a far end's hello): two ends on one may be one directory. */
  host: string;
  /** Bytes that crossed the transport, framing included. */
  wire(): { sent: number; received: number };
  close(): void;
}

export interface ConnectOptions {
  config?: Config;
  rsh: string;
  remoteServe: string;
  throttleUp?: number;
  throttleDown?: number;
  /** Make a missing local directory (for DST). */
  create: boolean;
  /** The end's transport, already started (dial.ts); connect takes it over. */
  dialed?: DialedEnd;
  /** Aborted (an interrupt, --max-duration): a transport still connecting is stopped (ssh killed: it may be asking for a password). */
  signal?: AbortSignal;
}

export const LOCAL_ARENA = 'local';

/** A path of an end's arena relative to its SUBDIR (its top): how SRC's files are known across attempts and in events, and how the two ends' paths compare. */
export function relative(e: Endpoint, path: ArenaPath): string {
  return e.prefix ? path.slice(e.prefix.length + 1) : path;
}

export async function connect(spec: EndpointSpec, opts: ConnectOptions): Promise<Endpoint> {
  if (spec.kind === 'local') return openLocal(spec, opts.create);
  let stream: Duplex;
  let closeTransport: () => void;
  let describe: (err: RealizeError) => RealizeError = (e) => e;
  // The caller's dialed end is of this spec (runSync parses the same words).
  const end = opts.dialed ?? dialEnd(spec, opts.rsh, opts.remoteServe, opts.config);
  const where = spec.kind === 'ssh' ? spec.userHost : spec.peer;
  let stop: () => void;
  if (end.kind === 'peer') {
    const conn = await end.conn;
    stream = conn.stream;
    closeTransport = stop = conn.close;
  } else {
    const conn = await end.conn;
    stream = conn.stream;
    closeTransport = conn.close;
    stop = () => {
      conn.child.kill();
      conn.close();
    };
    describe = (e) => {
      const said = conn.stderr().split('\n').filter(Boolean).pop();
      if (said) return new RealizeError(e.code === 'protocol' ? 'protocol' : 'network', `${where}: ${said}`);
      // Silent: say which command gave up, so the user knows where to look.
      const status = conn.child.exitCode;
      if (status !== null && status !== 0) return new RealizeError('network', `${where}: \`${opts.rsh}\` exited with status ${status} before realize-serve answered (try: ${opts.rsh} ${where} ${opts.remoteServe} --version)`);
      return e;
    };
  }
  const session = new Session(throttle(stream, opts.throttleUp, opts.throttleDown), { hello: { peer: hostname(), arenas: [] } });
  let hello;
  const onAbort = () => stop();
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    hello = await session.ready;
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    // Give ssh a moment to say why on stderr.
    await new Promise((r) => setTimeout(r, 200));
    closeTransport();
    throw describe(err as RealizeError);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  const arena = spec.kind === 'peer' ? spec.arena : ROOT_ARENA;
  if (!hello.arenas.includes(arena)) {
    session.close();
    closeTransport();
    const where = spec.kind === 'peer' ? `peer ${spec.peer}` : spec.userHost;
    throw new RealizeError('auth', `${where} does not grant arena ${arena} to us (it grants: ${hello.arenas.join(', ') || 'none'})`);
  }
  return {
    spec,
    files: new RemoteFiles(session),
    arena,
    host: hello.host ?? hello.peer,
    prefix: spec.kind === 'peer' ? spec.prefix : undefined,
    wire: () => ({ sent: session.bytesSent, received: session.bytesReceived }),
    close: () => {
      session.close();
      closeTransport();
    },
  };
}

async function openLocal(spec: Extract<EndpointSpec, { kind: 'local' }>, create: boolean): Promise<Endpoint> {
  const dir = resolvePath(spec.dir);
  let st = await stat(dir).catch(() => undefined);
  if (!st && create) {
    await mkdir(dir).catch((e: NodeJS.ErrnoException) => {
      throw new RealizeError('usage', `cannot create ${spec.dir}: ${e.code === 'ENOENT' ? 'its parent does not exist' : errnoText(e)}`);
    });
    st = await stat(dir);
  }
  if (!st) throw new RealizeError('usage', `${spec.dir}: no such directory`);
  if (!st.isDirectory()) throw new RealizeError('usage', `${spec.dir}: not a directory`);
  return {
    spec,
    files: new RealStore(new Map([[LOCAL_ARENA, dir]]), { hashCache: hashCacheAt(defaultHashCacheDir()) }),
    arena: LOCAL_ARENA,
    local: { dir, dev: st.dev, ino: st.ino },
    host: hostname(),
    wire: () => ({ sent: 0, received: 0 }),
    close: () => {},
  };
}
