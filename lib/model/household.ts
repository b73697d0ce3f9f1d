// The household (DESIGN §1): arenas and the peers that may reach them, as
// the config describes them. Plain data; lib/config builds it.
import type { Address } from './address.js';
import type { PublicKey } from './keys.js';
import type { ArenaName, PeerName } from './names.js';

/** A named tree of files; `path` is the local directory, absent on a peer that only mounts it. */
export interface Arena {
  name: ArenaName;
  /** Absolute path of the arena's directory on this peer. */
  path?: string;
}

/** Another member of the household. */
export interface Peer {
  name: PeerName;
  publicKey: PublicKey;
  /** Where it listens; absent for a deaf peer, which only dials out. */
  address?: Address;
  /** The arenas it may reach (all configured arenas unless the config narrows them). */
  arenas: ArenaName[];
}
