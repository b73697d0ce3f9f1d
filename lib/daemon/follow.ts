// Follows the household for realize-watch: a connection to every listening
// peer, each peer's connection state, and the history of every arena it
// grants us, from now on (the last `replay` entries first).
import type { Config } from '../config/index.js';
import { subscribeHistory, type WireEntry } from '../protocol/history-service.js';
import type { Session } from '../protocol/session.js';
import { linkPeers, type LinkState } from './links.js';

export type HouseholdEvent =
  | { type: 'peer'; peer: string; state: LinkState; address?: string; detail?: string }
  | { type: 'history'; peer: string; arena: string; entry: WireEntry };

/**
 * Subscribes to the history of every arena `peer` grants on `session`, each
 * from the last seq in `seen` (kept across reconnections, keyed PEER/ARENA).
 */
export function subscribeGranted(peer: string, session: Session, seen: Map<string, number>, onEntry: (arena: string, entry: WireEntry) => void): void {
  for (const arena of session.remote?.arenas ?? []) {
    const key = `${peer}/${arena}`;
    subscribeHistory(session, arena, seen.get(key) ?? 0, (entry) => {
      seen.set(key, entry.seq);
      onEntry(arena, entry);
    }).done.catch(() => {});
  }
}

export function followHousehold(config: Config, emit: (e: HouseholdEvent) => void): { close(): void } {
  const seen = new Map<string, number>();
  const links = linkPeers(config, {
    onState: (peer, state, detail) => emit({ type: 'peer', peer: peer.name, state, detail }),
    onSession: (peer, session) => subscribeGranted(peer.name, session, seen, (arena, entry) => emit({ type: 'history', peer: peer.name, arena, entry })),
  });
  return { close: () => links.close() };
}
