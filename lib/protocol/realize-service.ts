// RealizeService over a Session (DESIGN §4): the server's dispatch table,
// which validates every request (arena granted, path well-formed, range sane)
// before anything is touched, and the client, which is a FileService too.
import { joinAdjacent } from '../model/buffers.js';
import { RealizeError } from '../model/errors.js';
import { parsePath, type ArenaPath } from '../model/path.js';
import { checkRange } from '../model/range.js';
import { blockCount } from '../native.js';
import { identityOf, isIncoming, type FileForm, type FileHashes, type FileIdentity, type FileService, type HashedBytes, type HashOptions, type IncomingBytes, type Listing, type ListOptions, type WholeFile, type WholePut } from '../model/service.js';
import { errorToWire, handlerOf, remoteError, streamed, type Handler, type MethodTable, type Reply, type Session } from './session.js';

/** Most block hashes one request may carry (a range of 32 MiB has 32). */
const MAX_BLOCKS_PER_CALL = 4096;
/** The arena name a session serving one directory (`realize-serve --stdio --root PATH`) exposes it under. */
export const ROOT_ARENA = 'root';
/** Longest range one request may read, reuse, sign or diff. */
export const MAX_RANGE = 32 << 20;
/** Most files one fetch or put may carry. */
const MAX_BATCH = 1024;
/** Files per list event, so no frame grows with the arena. */
const LIST_PAGE = 2000;

type Args = Record<string, unknown>;

/** What the dispatch table tells its observer after a call that changed files (for logs). */
export interface ServiceEvent {
  method: 'finish' | 'delete';
  arena: string;
  path: ArenaPath;
  size?: number;
  /** The BLAKE3 root of the file made final. */
  root?: string;
}

/** The RealizeService methods serving `files` to the other side of a session, restricted to `granted` arenas. */
export function realizeMethods(files: FileService, granted: ReadonlySet<string>, onChange?: (e: ServiceEvent) => void): MethodTable {
  const table: MethodTable = {
    async list(a, _bulk, ctx) {
      const opts: ListOptions = { partials: a.partials === true };
      if (a.prefix !== undefined && a.prefix !== null) opts.prefix = parsePath(str(a.prefix, 'prefix'));
      const listing = await files.list(arena(a), opts);
      for (let i = 0; i < listing.files.length; i += LIST_PAGE) ctx.emit(listing.files.slice(i, i + LIST_PAGE));
      return { result: { count: listing.files.length, skipped: listing.skipped } };
    },
    async read(a) {
      const r = range(a);
      return { bulk: await files.read(arena(a), path(a), r.start, r.length, form(a)) };
    },
    async readHashed(a) {
      const version = identity(a.version);
      if (!version) throw new RealizeError('protocol', 'malformed request: readHashed without the version read');
      const r = range(a, version.size);
      const { data, blocks } = await files.readHashed(arena(a), path(a), r.start, r.length, version);
      return { result: { blocks }, bulk: data };
    },
    // Data goes to disk as it arrives, while still in the cache.
    send: streamed(async (a, bulk) => {
      const r = checkRange(a.offset, bulk.length, size(a.fileSize));
      await files.send(arena(a), path(a), r.start, size(a.fileSize), bulk);
      return {};
    }),
    async reuse(a) {
      const r = range(a, size(a.fileSize));
      await files.reuse(arena(a), path(a), r.start, r.length, size(a.fileSize));
      return {};
    },
    async finish(a) {
      const mtime = num(a.mtime, 'mtime');
      const ar = arena(a);
      const p = path(a);
      const root = hashes([a.root])[0]!;
      // An older client names nothing: no check.
      const replaces = a.replaces === undefined ? undefined : a.replaces === null ? null : identity(a.replaces);
      const made = await files.finish(ar, p, mtime, root, replaces);
      onChange?.({ method: 'finish', arena: ar, path: p, size: made.size, root });
      return { result: made };
    },
    async fetch(a) {
      const { paths, max } = wholeFiles(a);
      const got = await files.fetchMany(arena(a), paths, max);
      const data: Buffer[] = [];
      const items = got.map((f) => {
        if (f instanceof RealizeError) return { error: errorToWire(f) };
        const { data: bytes, ...hashes } = f;
        data.push(bytes);
        return hashes;
      });
      return { result: items, bulk: joinAdjacent(data) };
    },
    async hashMany(a) {
      const { paths, max } = wholeFiles(a);
      const got = await files.hashMany(arena(a), paths, max, hashOptions(a));
      return { result: got.map((f) => (f instanceof RealizeError ? { error: errorToWire(f) } : f)) };
    },
    async put(a, bulk) {
      const ar = arena(a);
      const wanted = list(a.files, 'files') as Args[];
      const lengths = wanted.map((f) => size(f.size));
      if (lengths.reduce((n, l) => n + l, 0) !== bulk.length) throw new RealizeError('protocol', 'malformed request: file sizes do not add up to the data sent');
      const data = bulk.parts(lengths);
      const puts: WholePut[] = wanted.map((f, i) => ({ path: path(f), data: data[i]!, mtime: num(f.mtime, 'mtime'), root: hashes([f.root])[0]! }));
      const got = await files.putMany(ar, puts);
      return {
        result: got.map((r, i) => {
          if (r instanceof RealizeError) return { error: errorToWire(r) };
          onChange?.({ method: 'finish', arena: ar, path: puts[i]!.path, size: r.size, root: puts[i]!.root });
          return r;
        }),
      };
    },
    async flush(a) {
      await files.flush(arena(a), list(a.paths, 'paths').map((p) => parsePath(str(p, 'path'))));
      return {};
    },
    async hash(a) {
      if (a.blocks !== undefined && a.blocks !== 'bulk') throw new RealizeError('protocol', 'malformed request: blocks is not "bulk"');
      const got = await files.hash(arena(a), path(a), form(a), hashOptions(a));
      if (a.blocks !== 'bulk') return { result: got };
      // 32 raw bytes per block after the metadata, which then does not grow
      // with the file: as JSON, the values of a file over 60 GiB would not
      // fit in one frame's metadata.
      const { blocks, ...version } = got;
      return { result: version, bulk: Buffer.from(blocks.join(''), 'hex') };
    },
    async hashBlocks(a) {
      const first = size(a.first);
      const count = size(a.count);
      if (count > MAX_BLOCKS_PER_CALL) throw new RealizeError('path', `at most ${MAX_BLOCKS_PER_CALL} blocks per request`);
      return { result: await files.hashBlocks(arena(a), path(a), form(a), first, count) };
    },
    async signature(a) {
      const r = range(a);
      return { bulk: await files.signature(arena(a), path(a), r.start, r.length) };
    },
    async diff(a, bulk) {
      const r = range(a);
      const delta = await files.diff(arena(a), path(a), r.start, r.length, bulk.buffer(), a.limit == null ? undefined : size(a.limit));
      // Over the limit: said so, with no bytes (a client that sets none always gets a delta).
      return delta ? { bulk: delta } : { result: { over: true } };
    },
    async applyDelta(a, bulk) {
      const fileSize = size(a.fileSize);
      const r = checkRange(a.offset, 0, fileSize);
      const blocks = hashes(list(a.blocks, 'blocks'));
      await files.applyDelta(arena(a), path(a), r.start, fileSize, bulk.buffer(), blocks);
      return {};
    },
    async delete(a) {
      const ar = arena(a);
      const p = path(a);
      const deleted = await files.delete(ar, p, identity(a.ifMatch));
      if (deleted) onChange?.({ method: 'delete', arena: ar, path: p });
      return { result: deleted };
    },
    async truncate(a) {
      await files.truncate(arena(a), path(a), size(a.fileSize));
      return {};
    },
  };

  function arena(a: Args): string {
    const name = str(a.arena, 'arena');
    if (!granted.has(name)) throw new RealizeError('auth', `arena ${name} is not granted to this peer`);
    return name;
  }

  return table;
}

/** A handler serving only RealizeService. */
export function realizeHandler(files: FileService, granted: ReadonlySet<string>, onChange?: (e: ServiceEvent) => void): Handler {
  return handlerOf(realizeMethods(files, granted, onChange));
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new RealizeError('protocol', `malformed request: ${what} is not a string`);
  return v;
}

function path(a: Args): ArenaPath {
  return parsePath(str(a.path, 'path'));
}

function form(a: Args): FileForm {
  if (a.form === undefined || a.form === 'final') return 'final';
  if (a.form === 'partial') return 'partial';
  throw new RealizeError('protocol', 'malformed request: form must be final or partial');
}

/** A hash or hashMany's `cache` (a server that predates it ignores it, and hashes anew). */
function hashOptions(a: Args): HashOptions {
  if (a.cache === undefined || a.cache === 'use' || a.cache === 'refresh') return { cache: a.cache };
  throw new RealizeError('protocol', 'malformed request: cache must be use or refresh');
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RealizeError('protocol', `malformed request: ${what} is not a number`);
  return v;
}

function range(a: Args, fileSize?: number) {
  const r = checkRange(a.offset, a.length, fileSize);
  if (r.length > MAX_RANGE) throw new RealizeError('path', `a range of ${r.length} bytes is over the ${MAX_RANGE}-byte limit`);
  return r;
}

function size(v: unknown): number {
  return checkRange(0, v).length;
}

function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v) || v.length > MAX_BATCH) throw new RealizeError('protocol', `malformed request: ${what} is not a list of at most ${MAX_BATCH}`);
  return v;
}

function hashes(v: unknown, max = MAX_BLOCKS_PER_CALL): string[] {
  if (!Array.isArray(v) || v.length > max || !v.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))) {
    throw new RealizeError('protocol', 'malformed request: expected block hashes');
  }
  return v as string[];
}

/** The paths and size bound of a fetch or hashMany: the bytes it may read, every file at its largest, are at most one range. */
function wholeFiles(a: Args): { paths: ArenaPath[]; max: number } {
  const paths = list(a.paths, 'paths').map((p) => parsePath(str(p, 'path')));
  const max = size(a.maxSize);
  if (max * paths.length > MAX_RANGE) throw new RealizeError('path', `${paths.length} files of up to ${max} bytes are over the ${MAX_RANGE}-byte limit of one request`);
  return { paths, max };
}

/** A file's hashes in a reply item, beside its version (its block values, when they came apart). */
function hashesOf(v: Args, id: FileIdentity, blocks: string[] = hashes(v.blocks)): FileHashes {
  return { ...id, root: hashes([v.root])[0]!, blocks };
}

function identity(v: unknown): FileIdentity | undefined {
  if (v === undefined || v === null) return undefined;
  const o = v as Args;
  return { size: size(o.size), mtime: num(o.mtime, 'mtime'), ino: num(o.ino, 'ino') };
}

/** The other side's files, as a FileService. */
export class RemoteFiles implements FileService {
  readonly session: Session;

  constructor(session: Session) {
    this.session = session;
  }

  arenas(): string[] {
    return this.session.remote?.arenas ?? [];
  }

  async list(arena: string, opts: ListOptions = {}): Promise<Listing> {
    const files: Listing['files'] = [];
    const reply = await this.session.call(
      'list',
      { arena, prefix: opts.prefix, partials: opts.partials === true },
      { onEvent: (page) => files.push(...entries(page)) },
    );
    const r = reply.result as { skipped: Listing['skipped'] };
    return { files, skipped: r.skipped };
  }

  async read(arena: string, path: ArenaPath, offset: number, length: number, form: FileForm = 'final'): Promise<Buffer> {
    return bulk(await this.session.call('read', { arena, path, offset, length, form }));
  }

  async readHashed(arena: string, path: ArenaPath, offset: number, length: number, version: FileIdentity): Promise<HashedBytes> {
    const reply = await this.session.call('readHashed', { arena, path, offset, length, version: identityOf(version) });
    const blocks = hashes((reply.result as { blocks?: unknown } | null)?.blocks);
    // The pieces as they arrived: written on without first being joined (8 MiB copied and faulted in per range).
    return { data: reply.bulk.chunks, blocks };
  }

  async send(arena: string, path: ArenaPath, offset: number, fileSize: number, data: Buffer | readonly Buffer[] | IncomingBytes): Promise<void> {
    await this.session.call('send', { arena, path, offset, fileSize }, { bulk: await inHand(data) });
  }

  async reuse(arena: string, path: ArenaPath, offset: number, length: number, fileSize: number): Promise<void> {
    await this.session.call('reuse', { arena, path, offset, length, fileSize });
  }

  async finish(arena: string, path: ArenaPath, mtime: number, root: string, replaces?: FileIdentity | null): Promise<FileIdentity> {
    const r = (await this.session.call('finish', { arena, path, mtime, root, replaces })).result;
    return identity(r) ?? { size: 0, mtime: 0, ino: 0 };
  }

  async fetchMany(arena: string, paths: ArenaPath[], maxSize: number): Promise<(WholeFile | RealizeError)[]> {
    const reply = await this.session.call('fetch', { arena, paths, maxSize });
    const items = reply.result;
    const data = bulk(reply);
    if (!Array.isArray(items) || items.length !== paths.length) throw new RealizeError('protocol', 'malformed fetch reply: one item per path expected');
    let offset = 0;
    const out = items.map((v: Args, i): WholeFile | RealizeError => {
      if (v?.error !== undefined) return remoteError(v.error);
      const id = identity(v);
      if (!id || id.size > maxSize || offset + id.size > data.length) throw new RealizeError('protocol', `malformed fetch reply for ${paths[i]}`);
      const bytes = data.subarray(offset, offset + id.size);
      offset += id.size;
      return { ...hashesOf(v, id), data: bytes };
    });
    if (offset !== data.length) throw new RealizeError('protocol', 'malformed fetch reply: sizes do not add up to the data');
    return out;
  }

  async hashMany(arena: string, paths: ArenaPath[], maxSize: number, opts: HashOptions = {}): Promise<(FileHashes | RealizeError)[]> {
    const items = (await this.session.call('hashMany', { arena, paths, maxSize, ...cacheArg(opts) })).result;
    if (!Array.isArray(items) || items.length !== paths.length) throw new RealizeError('protocol', 'malformed hashMany reply: one item per path expected');
    return items.map((v: Args, i): FileHashes | RealizeError => {
      if (v?.error !== undefined) return remoteError(v.error);
      const id = identity(v);
      // Remembered hashes may be of files of any size.
      if (!id || (id.size > maxSize && opts.cache !== 'use')) throw new RealizeError('protocol', `malformed hashMany reply for ${paths[i]}`);
      return hashesOf(v, id);
    });
  }

  async putMany(arena: string, files: WholePut[]): Promise<(FileIdentity | RealizeError)[]> {
    const meta = files.map((f) => ({ path: f.path, size: f.data.length, mtime: f.mtime, root: f.root }));
    const reply = await this.session.call('put', { arena, files: meta }, { bulk: joinAdjacent(files.map((f) => f.data)) });
    const items = reply.result;
    if (!Array.isArray(items) || items.length !== files.length) throw new RealizeError('protocol', 'malformed put reply: one item per file expected');
    return items.map((v: Args) => {
      if (v?.error !== undefined) return remoteError(v.error);
      const id = identity(v);
      if (!id) throw new RealizeError('protocol', 'malformed put reply');
      return id;
    });
  }

  async flush(arena: string, paths: ArenaPath[]): Promise<void> {
    await this.session.call('flush', { arena, paths });
  }

  async hash(arena: string, path: ArenaPath, form: FileForm, opts: HashOptions = {}): Promise<FileHashes> {
    const reply = await this.session.call('hash', { arena, path, form, ...cacheArg(opts), blocks: 'bulk' });
    const v = reply.result as Args | null;
    const id = identity(v);
    if (!id) throw new RealizeError('protocol', `malformed hash reply for ${path}`);
    // A server from before blocks in bulk sends them as JSON.
    const blocks = v!.blocks !== undefined ? hashes(v!.blocks, Infinity) : hexesOf(bulk(reply));
    if (blocks.length !== blockCount(id.size)) throw new RealizeError('protocol', `malformed hash reply for ${path}: ${blocks.length} block values for ${id.size} bytes`);
    return hashesOf(v!, id, blocks);
  }

  async hashBlocks(arena: string, path: ArenaPath, form: FileForm, first: number, count: number): Promise<string[]> {
    const got = hashes((await this.session.call('hashBlocks', { arena, path, form, first, count })).result);
    if (got.length > count) throw new RealizeError('protocol', `malformed hashBlocks reply for ${path}: ${got.length} values, ${count} asked for`);
    return got;
  }

  async signature(arena: string, path: ArenaPath, offset: number, length: number): Promise<Buffer> {
    return bulk(await this.session.call('signature', { arena, path, offset, length }));
  }

  async diff(arena: string, path: ArenaPath, offset: number, length: number, signature: Buffer, limit?: number): Promise<Buffer | undefined> {
    const reply = await this.session.call('diff', { arena, path, offset, length, limit }, { bulk: signature });
    // A server from before limits always sends a delta; the caller checks its size.
    return (reply.result as { over?: unknown } | null)?.over === true ? undefined : bulk(reply);
  }

  async applyDelta(arena: string, path: ArenaPath, offset: number, fileSize: number, delta: Buffer, blocks: string[]): Promise<void> {
    await this.session.call('applyDelta', { arena, path, offset, fileSize, blocks }, { bulk: delta });
  }

  async delete(arena: string, path: ArenaPath, ifMatch?: FileIdentity): Promise<boolean> {
    return (await this.session.call('delete', { arena, path, ifMatch })).result === true;
  }

  async truncate(arena: string, path: ArenaPath, fileSize: number): Promise<void> {
    await this.session.call('truncate', { arena, path, fileSize });
  }
}

/** Entries from the other side are input like any other: checked before use. */
function entries(page: unknown): Listing['files'] {
  if (!Array.isArray(page)) throw new RealizeError('protocol', 'malformed list page');
  return page.map((e: Args) => ({
    path: parsePath(str(e.path, 'path')),
    size: size(e.size),
    mtime: num(e.mtime, 'mtime'),
    ino: num(e.ino, 'ino'),
    partial: e.partial === true,
  }));
}

/** `cache` is sent only when asked for: a request without it reads as before. */
function cacheArg(opts: HashOptions): HashOptions {
  return opts.cache ? { cache: opts.cache } : {};
}

/** Block values sent as 32 raw bytes each, as the hex the rest of Realize uses. */
function hexesOf(data: Buffer): string[] {
  if (data.length % 32 !== 0) throw new RealizeError('protocol', `malformed hash reply: ${data.length} bytes of block values`);
  const hex = data.toString('hex');
  const out: string[] = [];
  for (let at = 0; at < hex.length; at += 64) out.push(hex.slice(at, at + 64));
  return out;
}

function bulk(reply: Reply): Buffer {
  return reply.bulk.buffer();
}

/** Bytes to send on: those still arriving are gathered first. */
async function inHand(data: Buffer | readonly Buffer[] | IncomingBytes): Promise<Buffer | readonly Buffer[]> {
  if (!isIncoming(data)) return data;
  const pieces: Buffer[] = [];
  await data.consume((p) => pieces.push(p));
  return pieces;
}
