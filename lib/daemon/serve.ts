// realize-serve's listening mode: serve this peer's arenas to configured
// peers over SSH, record and share their history. Composes the
// Real (lib/storage), the protocol and the transports; the bin only parses
// arguments and handles signals.
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import type { Address } from '../model/address.js';
import { RealizeError } from '../model/errors.js';
import type { Logger } from '../model/log.js';
import { loadConfig } from '../config/index.js';
import { realizeMethods } from '../protocol/realize-service.js';
import { ackHistory, historyMethods } from '../protocol/history-service.js';
import { Session, handlerOf, type Handler } from '../protocol/session.js';
import type { Peer } from '../model/household.js';
import { startHistory } from './history.js';
import { subscribeGranted } from './follow.js';
import { linkPeers } from './links.js';
import { startSshServer, type SshServer } from '../transport/ssh-server.js';
import { logChange, storeOf } from './stdio.js';
import { checkArenaRoot } from '../storage/resolve.js';

export interface Daemon {
  address(): Address;
  /** Re-reads the config: new connections see new peers, keys and arenas. */
  reload(): Promise<void>;
  /** Stops listening, lets in-flight requests finish, closes every session. */
  stop(): Promise<void>;
}

export interface DaemonOptions {
  configPath?: string;
  listen?: Address;
  log: Logger;
}

/** The arenas of the config that have a directory here, as a store. */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { log } = opts;
  let config = await loadConfig({ path: opts.configPath, requireFile: true });
  if (!config.localKey) throw new RealizeError('config', `${config.file}: privkey is not set; create a key with 'realize-serve keygen FILE' and name it in privkey`);
  let store = storeOf(config);
  const sessions = new Set<Session>();
  const self = config.selfName ?? hostname();

  for (const a of config.arenas.values()) {
    if (a.path) await checkArenaRoot(a.name, a.path).catch((err: Error) => log.warn(err.message));
  }

  const history = startHistory(config, log);
  /** Arenas held here that `peer` may reach. */
  const grantsOf = (peer: Peer) => {
    const served = new Set(store.arenas());
    return new Set<string>(peer.arenas.filter((a) => served.has(a)));
  };
  /** What a peer is served on any connection with it, whichever side dialed. */
  const handlerFor = (peer: Peer): Handler => {
    const granted = grantsOf(peer);
    return handlerOf(realizeMethods(store, granted, logChange(log, peer.name)), historyMethods(history.source, granted, peer.name));
  };
  const track = (session: Session, name: string) => {
    sessions.add(session);
    session.on('close', (err?: RealizeError) => {
      sessions.delete(session);
      if (err) log.warn(`session with ${name} closed: ${err.message}`);
    });
  };

  let server: SshServer;
  try {
    server = await startSshServer({
      hostKey: config.localKey.sshKey,
      ...(opts.listen ?? config.listen),
      log,
      admit(blob) {
        for (const p of config.peers.values()) if (p.publicKey.blob.equals(blob)) return { name: p.name };
        return undefined;
      },
      onChannel(stream: Duplex, who) {
        const peer = config.peers.get(who.name);
        if (!peer) return stream.destroy();
        track(new Session(stream, { hello: { peer: self, arenas: [...grantsOf(peer)] }, handler: handlerFor(peer) }), who.name);
      },
    });
  } catch (err) {
    history.close();
    throw err;
  }

  // Dial every listening peer: their history reaches us, ours reaches them (also when they cannot dial us).
  const seen = new Map<string, number>();
  const links = linkPeers(config, {
    granted: (peer) => [...grantsOf(peer)],
    handler: handlerFor,
    onState: (peer, state, detail) => log.info(`peer ${peer.name} ${state}${detail ? ` (${detail})` : ''}`),
    onSession(peer, session) {
      track(session, peer.name);
      // Acks go out at most twice a second per arena, for the last entry seen.
      const unacked = new Map<string, number>();
      subscribeGranted(peer.name, session, seen, (arena, entry) => {
        log.debug(`history ${peer.name}:${arena} ${entry.kind} ${entry.path}`);
        const scheduled = unacked.has(arena);
        unacked.set(arena, entry.seq);
        if (scheduled) return;
        setTimeout(() => {
          const seq = unacked.get(arena)!;
          unacked.delete(arena);
          ackHistory(session, arena, seq).catch(() => {});
        }, 500);
      });
    },
  });

  const addr = server.address();
  log.info(`listening on ${addr.host}:${addr.port} as ${self}; arenas: ${store.arenas().join(', ') || '(none)'}`);

  return {
    address: () => server.address(),
    async reload() {
      const next = await loadConfig({ path: opts.configPath, requireFile: true });
      config = next;
      store = storeOf(next);
      log.info(`reloaded ${next.file}: ${next.peers.size} peers, arenas: ${store.arenas().join(', ') || '(none)'}`);
    },
    async stop() {
      links.close();
      const closing = server.close();
      await Promise.all([...sessions].map((s) => s.drain()));
      for (const s of sessions) s.close();
      history.close();
      await Promise.race([closing, new Promise((r) => setTimeout(r, 2000))]);
    },
  };
}

/** One session on stdin/stdout; resolves when the caller goes away. */
