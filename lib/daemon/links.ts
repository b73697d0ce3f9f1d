// Connections to every listening peer of the household, kept up: dial over
// SSH with pinned keys, run a session, and when it drops, dial again with
// backoff. Used by realize-serve (to share history both ways) and by
// realize-watch (to follow the household).
import { hostname } from 'node:os';
import type { Config } from '../config/index.js';
import type { RealizeError } from '../model/errors.js';
import type { Peer } from '../model/household.js';
import { formatAddress } from '../model/address.js';
import { Session, type Handler } from '../protocol/session.js';
import { dialSsh } from '../transport/ssh-client.js';

export type LinkState = 'connecting' | 'connected' | 'disconnected';

export interface LinkEvents {
  /** What this side serves the peer on the connection (a deaf peer's own files and history). */
  handler?(peer: Peer): Handler | undefined;
  /** Arenas this side grants the peer, for the hello. */
  granted?(peer: Peer): string[];
  onState?(peer: Peer, state: LinkState, detail?: string): void;
  /** A session is up; runs until it closes. */
  onSession?(peer: Peer, session: Session): void;
}

/** Delays between dial attempts. */
export const LINK_BACKOFF_MS = [1, 2, 5, 15, 30, 60].map((s) => s * 1000);

export interface Links {
  sessions(): Map<string, Session>;
  close(): void;
}

export function linkPeers(config: Config, events: LinkEvents, backoff = LINK_BACKOFF_MS): Links {
  const sessions = new Map<string, Session>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  const self = config.selfName ?? hostname();

  const dial = async (peer: Peer, attempt: number): Promise<void> => {
    if (closed || !peer.address || !config.localKey) return;
    events.onState?.(peer, 'connecting', formatAddress(peer.address));
    try {
      const conn = await dialSsh({ host: peer.address.host, port: peer.address.port, privateKey: config.localKey.sshKey, hostKeyBlob: peer.publicKey.blob, peerName: peer.name });
      const session = new Session(conn.stream, { hello: { peer: self, arenas: events.granted?.(peer) ?? [] }, handler: events.handler?.(peer) });
      await session.ready;
      if (closed) return session.close();
      sessions.set(peer.name, session);
      events.onState?.(peer, 'connected', formatAddress(peer.address));
      session.on('close', (err?: RealizeError) => {
        sessions.delete(peer.name);
        conn.close();
        if (closed) return;
        events.onState?.(peer, 'disconnected', err?.message);
        later(peer, 0);
      });
      events.onSession?.(peer, session);
    } catch (err) {
      if (closed) return;
      const delay = backoff[Math.min(attempt, backoff.length - 1)]!;
      events.onState?.(peer, 'disconnected', `${(err as Error).message}; retry in ${Math.round(delay / 1000)}s`);
      later(peer, attempt + 1);
    }
  };
  const later = (peer: Peer, attempt: number) => {
    const delay = attempt === 0 ? backoff[0]! : backoff[Math.min(attempt - 1, backoff.length - 1)]!;
    const t = setTimeout(() => {
      timers.delete(t);
      void dial(peer, attempt);
    }, delay);
    timers.add(t);
  };

  for (const peer of config.peers.values()) if (peer.address) void dial(peer, 0);
  return {
    sessions: () => sessions,
    close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      for (const s of sessions.values()) s.close();
    },
  };
}
