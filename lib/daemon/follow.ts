// Follows the household for realize-watch: a connection to every listening
// peer, each peer's connection state, and the history of every arena it
// grants us, from now on (the last `replay` entries first).
import type { Config } from '../config/index.js';
import { subscribeHistory, type WireEntry } from '../protocol/history-service.js';
import { linkPeers, type LinkState } from './links.js';

export type HouseholdEvent =
  | { type: 'peer'; peer: string; state: LinkState; address?: string; detail?: string }
  | { type: 'history'; peer: string; arena: string; entry: WireEntry };

export function followHousehold(config: Config, emit: (e: HouseholdEvent) => void): { close(): void } {
  const seen = new Map<string, number>();
  const links = linkPeers(config, {
    onState: (peer, state, detail) => emit({ type: 'peer', peer: peer.name, state, detail }),
    onSession(peer, session) {
      for (const arena of session.remote?.arenas ?? []) {
        const key = `${peer.name}/${arena}`;
        subscribeHistory(session, arena, seen.get(key) ?? 0, (entry) => {
          seen.set(key, entry.seq);
          emit({ type: 'history', peer: peer.name, arena, entry });
        }).done.catch(() => {});
      }
    },
  });
  return { close: () => links.close() };
}
