// Reads the TOML config of DESIGN §3 into a Config: the local key, the
// listen address, the state directory, the cache quota, the arenas and the
// other peers. Every error is one line naming the file, the line and the key.
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DEFAULT_PORT, parseAddress, type Address } from '../model/address.js';
import { RealizeError, errnoText } from '../model/errors.js';
import type { Arena, Peer } from '../model/household.js';
import type { LoadedPrivateKey, PublicKey } from '../model/keys.js';
import { parseArenaName, parsePeerName, type ArenaName, type PeerName } from '../model/names.js';
import { parseSize } from '../model/units.js';
import { defaultStateDir, resolveConfigPath, resolveConfigRelative } from './paths.js';
import { ConfigSource, didYouMean, formatKey } from './source.js';

/** Unreal cache quota when the config sets none: 10 GiB. */
export const DEFAULT_CACHE_SIZE = 10 * 1024 ** 3;
export const DEFAULT_LISTEN: Readonly<Address> = Object.freeze({ host: '127.0.0.1', port: DEFAULT_PORT });

export interface Config {
  /** Absolute path of the file read; undefined when none existed and none was required. */
  file: string | undefined;
  /** Absolute path of this peer's private key (`privkey`). */
  privkeyFile?: string;
  /** This peer's key, loaded when `privkey` is set. */
  localKey?: LoadedPrivateKey;
  /** The name of the `[peers]` entry holding the local key, if the table lists this peer too. */
  selfName?: PeerName;
  /** `listen`, default 127.0.0.1:9771 (port 0 allowed: any free port). */
  listen: Address;
  /** Absolute state directory: history, Unreal database and cache. */
  state: string;
  /** Unreal cache quota in bytes. */
  cacheSize: number;
  /** Arenas by name, in config order. */
  arenas: Map<string, Arena>;
  /** The other peers by name, in config order (this peer's own entry skipped). */
  peers: Map<string, Peer>;
}

export interface LoadConfigOptions {
  /** --config; else $REALIZE_CONFIG; else the XDG default. */
  path?: string;
  env?: NodeJS.ProcessEnv;
  /** Fail when the file does not exist. Default: true when the file was named (path or $REALIZE_CONFIG), false for the XDG default. */
  requireFile?: boolean;
}

const TOP_KEYS = ['privkey', 'listen', 'state', 'cache_size', 'arenas', 'peers'];
const ARENA_KEYS = ['path'];
const PEER_KEYS = ['pubkey', 'address', 'arenas'];

export async function loadConfig(opts: LoadConfigOptions = {}): Promise<Config> {
  const env = opts.env ?? process.env;
  const file = resolveConfigPath(opts.path, env);
  const requireFile = opts.requireFile ?? (opts.path !== undefined || !!env.REALIZE_CONFIG);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !requireFile) return defaults(undefined, env);
    throw new RealizeError('config', `cannot read config ${file}: ${errnoText(err)}`, { cause: err });
  }
  return parseConfig(text, file, env);
}

/** Parses the text of a config file; `file` (absolute) names it in errors and anchors relative paths. */
export async function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  // The TOML parser and key code load only for a file that exists: most
  // realize-sync runs have none, and every run starts with the config.
  const [{ parse, TomlError }, { loadPrivateKey, parsePublicKey }] = await Promise.all([import('smol-toml'), import('../model/keys.js')]);
  const src = new ConfigSource(file, text);
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const what = err.message.split('\n')[0]!.replace(/^Invalid TOML document:\s*/, '');
      throw new RealizeError('config', `${file}:${err.line}:${err.column}: ${what}`, { cause: err });
    }
    throw err;
  }
  const base = dirname(file);
  const config = defaults(file, env);
  checkKeys(src, [], doc, TOP_KEYS);

  const privkey = optionalString(src, ['privkey'], doc.privkey);
  if (privkey !== undefined) {
    config.privkeyFile = resolveConfigRelative(base, privkey, env);
    try {
      config.localKey = await loadPrivateKey(config.privkeyFile);
    } catch (err) {
      throw src.error(['privkey'], err instanceof Error ? err.message : String(err), err);
    }
  }
  const listen = optionalString(src, ['listen'], doc.listen);
  if (listen !== undefined) config.listen = value(src, ['listen'], () => parseAddress(listen, { allowPortZero: true }));
  const state = optionalString(src, ['state'], doc.state);
  if (state !== undefined) config.state = resolveConfigRelative(base, state, env);
  if (doc.cache_size !== undefined) {
    const raw = doc.cache_size;
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'bigint') {
      throw src.error(['cache_size'], `expected a size such as "20G", not ${typeName(raw)}`);
    }
    config.cacheSize = value(src, ['cache_size'], () => parseSize(raw, 'cache size'));
  }

  for (const [key, entry] of Object.entries(table(src, ['arenas'], doc.arenas))) {
    const path = ['arenas', key];
    const name = value(src, path, () => parseArenaName(key));
    const t = table(src, path, entry, 'a table, as in [arenas.NAME] with path = "/DIR"');
    checkKeys(src, path, t, ARENA_KEYS);
    const dir = optionalString(src, [...path, 'path'], t.path);
    config.arenas.set(name, dir === undefined ? { name } : { name, path: resolveConfigRelative(base, dir, env) });
  }

  const seen: { name: string; key: PublicKey }[] = [];
  for (const [key, entry] of Object.entries(table(src, ['peers'], doc.peers))) {
    const path = ['peers', key];
    const name = value(src, path, () => parsePeerName(key));
    const t = table(src, path, entry, 'a table, as in [peers.NAME] with pubkey = "ssh-ed25519 AAAA…"');
    checkKeys(src, path, t, PEER_KEYS);
    const pubkeyText = optionalString(src, [...path, 'pubkey'], t.pubkey);
    if (pubkeyText === undefined) {
      throw src.error([...path, 'pubkey'], "missing: give the peer's public key (the line 'realize-serve keygen' printed)");
    }
    const publicKey = value(src, [...path, 'pubkey'], () => parsePublicKey(pubkeyText));
    const twin = seen.find((s) => s.key.equals(publicKey));
    if (twin) throw src.error([...path, 'pubkey'], `same key as ${formatKey(['peers', twin.name])}`);
    seen.push({ name: key, key: publicKey });
    const addressText = optionalString(src, [...path, 'address'], t.address);
    const address = addressText === undefined ? undefined : value(src, [...path, 'address'], () => parseAddress(addressText));
    const arenas = peerArenas(src, [...path, 'arenas'], t.arenas, config.arenas);
    if (config.localKey?.publicKey.equals(publicKey)) {
      config.selfName = name; // this peer's own entry: the same table is copied to every member
      continue;
    }
    config.peers.set(name, address ? { name, publicKey, address, arenas } : { name, publicKey, arenas });
  }
  return config;
}

/** The peer admitted by this public key (e.g. an SSH client's), if any. */
export function findPeerByKey(config: Pick<Config, 'peers'>, key: PublicKey): Peer | undefined {
  for (const peer of config.peers.values()) if (peer.publicKey.equals(key)) return peer;
  return undefined;
}

export function findPeerByName(config: Pick<Config, 'peers'>, name: string): Peer | undefined {
  return config.peers.get(name);
}

/** The peer named `name`, or RealizeError('usage') saying which peers exist. */
export function requirePeer(config: Pick<Config, 'peers' | 'file'>, name: string): Peer {
  return config.peers.get(name) ?? unknownName('peer', name, config.peers, config.file);
}

/** The arena named `name`, or RealizeError('usage') saying which arenas exist. */
export function requireArena(config: Pick<Config, 'arenas' | 'file'>, name: string): Arena {
  return config.arenas.get(name) ?? unknownName('arena', name, config.arenas, config.file);
}

function unknownName(kind: 'peer' | 'arena', name: string, known: Map<string, unknown>, file: string | undefined): never {
  const guess = didYouMean(name, known.keys());
  const list = known.size ? `configured ${kind}s: ${[...known.keys()].join(', ')}` : `no ${kind}s are configured`;
  throw new RealizeError('usage', `unknown ${kind} ${JSON.stringify(name)}${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ''}: ${list} in ${file ?? 'the config (none found)'}`);
}

function defaults(file: string | undefined, env: NodeJS.ProcessEnv): Config {
  return {
    file,
    listen: { ...DEFAULT_LISTEN },
    state: defaultStateDir(env),
    cacheSize: DEFAULT_CACHE_SIZE,
    arenas: new Map(),
    peers: new Map(),
  };
}

function peerArenas(src: ConfigSource, path: string[], raw: unknown, arenas: Map<string, Arena>): ArenaName[] {
  if (raw === undefined) return [...arenas.keys()] as ArenaName[];
  if (!Array.isArray(raw) || raw.some((a) => typeof a !== 'string')) {
    throw src.error(path, `expected a list of arena names such as ["photos"], not ${typeName(raw)}`);
  }
  const out: ArenaName[] = [];
  for (const name of raw as string[]) {
    const arena = arenas.get(name);
    if (!arena) {
      const guess = didYouMean(name, arenas.keys());
      const hint = guess ? ` (did you mean ${JSON.stringify(guess)}?)` : arenas.size ? ` (configured: ${[...arenas.keys()].join(', ')})` : ' (no [arenas] are configured)';
      throw src.error(path, `unknown arena ${JSON.stringify(name)}${hint}`);
    }
    if (!out.includes(arena.name)) out.push(arena.name);
  }
  return out;
}

function checkKeys(src: ConfigSource, path: string[], t: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(t)) {
    if (allowed.includes(key)) continue;
    const guess = didYouMean(key, allowed);
    throw src.error([...path, key], `unknown key${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : `; expected ${allowed.join(', ')}`}`);
  }
}

function table(src: ConfigSource, path: string[], raw: unknown, expected = 'a table'): Record<string, unknown> {
  if (raw === undefined) return {};
  if (!isTable(raw)) throw src.error(path, `expected ${expected}, not ${typeName(raw)}`);
  return raw;
}

function optionalString(src: ConfigSource, path: string[], raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw src.error(path, `expected a string, not ${typeName(raw)}`);
  if (raw.trim() === '') throw src.error(path, 'empty');
  return raw;
}

/** Runs a model parser, turning its error into one naming the file, line and key. */
function value<T>(src: ConfigSource, path: string[], parseIt: () => T): T {
  try {
    return parseIt();
  } catch (err) {
    if (err instanceof RealizeError) throw src.error(path, err.message, err);
    throw err;
  }
}

function isTable(raw: unknown): raw is Record<string, unknown> {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) && !(raw instanceof Date);
}

function typeName(raw: unknown): string {
  if (Array.isArray(raw)) return 'a list';
  if (raw instanceof Date) return 'a date';
  if (isTable(raw)) return 'a table';
  if (typeof raw === 'string') return 'a string';
  if (typeof raw === 'boolean') return 'a boolean';
  if (typeof raw === 'number' || typeof raw === 'bigint') return 'a number';
  return typeof raw;
}
