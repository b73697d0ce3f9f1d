// Network addresses as people write them: `host:port`, `[::1]:port`, or a
// bare host that takes the default port. Used for peers' addresses, --listen
// and --metrics-addr.
import { isIP } from 'node:net';
import { RealizeError } from './errors.js';

/** Realize's port, for `realize-serve` and peers' addresses. */
export const DEFAULT_PORT = 9771;

export interface Address {
  /** A host name, an IPv4 address or an IPv6 address (without brackets). */
  host: string;
  port: number;
}

export interface ParseAddressOptions {
  /** Port when the text has none; `null` requires one. Default DEFAULT_PORT. */
  defaultPort?: number | null;
  /** Accept port 0 ("any free port", for listening). Default false. */
  allowPortZero?: boolean;
}

const HOSTNAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$/;

export function parseAddress(text: string, opts: ParseAddressOptions = {}): Address {
  const defaultPort = opts.defaultPort === undefined ? DEFAULT_PORT : opts.defaultPort;
  const bad = (why: string): RealizeError => new RealizeError('usage', `invalid address ${JSON.stringify(text)}: ${why}`);
  if (typeof text !== 'string' || text.trim() === '') throw bad('empty');
  const s = text.trim();
  let host: string;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const m = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
    if (!m) throw bad('expected [IPv6]:PORT');
    host = m[1]!;
    portText = m[2];
    if (isIP(host) !== 6) throw bad(`${JSON.stringify(host)} is not an IPv6 address`);
  } else if (s.indexOf(':') !== s.lastIndexOf(':')) {
    // Several colons and no brackets: a bare IPv6 address.
    host = s;
    if (isIP(host) !== 6) throw bad('write an IPv6 address with a port as [ADDRESS]:PORT');
  } else {
    const colon = s.indexOf(':');
    host = colon < 0 ? s : s.slice(0, colon);
    portText = colon < 0 ? undefined : s.slice(colon + 1);
    if (isIP(host) !== 4 && !HOSTNAME.test(host)) throw bad(`${JSON.stringify(host)} is not a host name or IP address`);
  }
  let port: number;
  if (portText === undefined) {
    if (defaultPort === null) throw bad('expected HOST:PORT');
    port = defaultPort;
  } else {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port <= 65535) || (port === 0 && !opts.allowPortZero)) throw bad(`port must be a number from ${opts.allowPortZero ? 0 : 1} to 65535`);
  }
  return { host, port };
}

/** `host:port`, with brackets around an IPv6 host. */
export function formatAddress(addr: Address): string {
  return isIP(addr.host) === 6 ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}
