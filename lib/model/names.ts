// Names of arenas and peers: short, printable, safe in a file name, a URL,
// a TOML key and a `PEER:ARENA` argument. Validated here once.
import { RealizeError } from './errors.js';

/** A validated arena name. Only `parseArenaName` makes one. */
export type ArenaName = string & { readonly __arenaName: unique symbol };
/** A validated peer name. Only `parsePeerName` makes one. */
export type PeerName = string & { readonly __peerName: unique symbol };

/** Letters, digits, '.', '_' and '-'; starts with a letter or digit; 1 to 64 characters. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const RULE = "use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit";

export function isValidName(text: unknown): text is string {
  return typeof text === 'string' && NAME_PATTERN.test(text);
}

export function parseArenaName(text: string): ArenaName {
  if (!isValidName(text)) throw new RealizeError('usage', `invalid arena name ${quote(text)}: ${RULE}`);
  return text as ArenaName;
}

export function parsePeerName(text: string): PeerName {
  if (!isValidName(text)) throw new RealizeError('usage', `invalid peer name ${quote(text)}: ${RULE}`);
  return text as PeerName;
}

function quote(text: unknown): string {
  return typeof text === 'string' ? JSON.stringify(text.length > 80 ? text.slice(0, 80) + '…' : text) : `(${typeof text})`;
}
