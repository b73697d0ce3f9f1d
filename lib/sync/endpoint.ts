// SRC and DST of realize-sync (DESIGN §2): a local directory,
// PEER:ARENA[/SUBDIR] for a configured peer, or [USER@]HOST:PATH through the
// ssh binary. Parsing here; connecting in connect.ts.
import { posix } from 'node:path';
import type { Config } from '../config/index.js';
import { RealizeError } from '../model/errors.js';
import { parsePath, type ArenaPath } from '../model/path.js';

export type EndpointSpec =
  | { kind: 'local'; dir: string; text: string }
  | { kind: 'peer'; peer: string; arena: string; prefix?: ArenaPath; text: string }
  | { kind: 'ssh'; userHost: string; path: string; text: string };

/**
 * As rsync: a ':' before any '/' makes a remote endpoint (write `./a:b` for a
 * local name with a colon). A remote whose host is a configured peer is that
 * peer's arena; any other host is reached with ssh.
 */
export function parseEndpoint(text: string, isPeer: (name: string) => boolean): EndpointSpec {
  if (text === '') throw new RealizeError('usage', 'empty SRC or DST');
  const colon = text.indexOf(':');
  const slash = text.indexOf('/');
  if (colon <= 0 || (slash >= 0 && slash < colon)) return { kind: 'local', dir: text, text };
  const host = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  if (!host.includes('@') && isPeer(host)) {
    const [arena, ...sub] = rest.split('/');
    if (!arena) throw new RealizeError('usage', `${text}: name an arena of peer ${host}, as ${host}:ARENA[/SUBDIR]`);
    const subdir = sub.filter((s) => s !== '').join('/');
    return { kind: 'peer', peer: host, arena, prefix: subdir ? parsePath(subdir) : undefined, text };
  }
  if (rest === '') throw new RealizeError('usage', `${text}: name a path on ${host}, as ${host}:PATH`);
  return { kind: 'ssh', userHost: host, path: rest, text };
}

/** SRC and DST of a run: a remote whose host names a peer of `config` is that peer. Two that name one directory as written are refused. */
export function parseEndpoints(src: string, dst: string, config?: Config): [EndpointSpec, EndpointSpec] {
  const isPeer = (name: string) => config?.peers.has(name) === true;
  const ends: [EndpointSpec, EndpointSpec] = [parseEndpoint(src, isPeer), parseEndpoint(dst, isPeer)];
  refuseSameRemote(...ends);
  return ends;
}

/**
 * Refuses two remote ends that name one directory, or DST inside SRC, as
 * written: the same arena of the same peer, or the same path on the same
 * [USER@]HOST. (Local ends are compared by device and inode once open; a
 * directory reached two other ways is found by probe.ts.)
 */
function refuseSameRemote(src: EndpointSpec, dst: EndpointSpec): void {
  let a: string | undefined;
  let b: string | undefined;
  if (src.kind === 'peer' && dst.kind === 'peer' && src.peer === dst.peer && src.arena === dst.arena) [a, b] = [src.prefix ?? '', dst.prefix ?? ''];
  else if (src.kind === 'ssh' && dst.kind === 'ssh' && src.userHost === dst.userHost) [a, b] = [posix.normalize(src.path).replace(/\/+$/, ''), posix.normalize(dst.path).replace(/\/+$/, '')];
  if (a === undefined || b === undefined) return;
  if (a === b) throw new RealizeError('usage', `${src.text} and ${dst.text} are the same directory; nothing done`);
  if (a === '' || b.startsWith(a + '/')) throw new RealizeError('usage', `${dst.text} is inside ${src.text}; nothing done`);
}
