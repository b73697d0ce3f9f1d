// Starting the transport of a remote end: ssh for HOST:PATH, ssh2 for a
// configured peer. Kept apart from connect.ts, and light: realize-sync starts
// them before it loads the rest of itself, so ssh's handshake and the remote
// login (most of a short run) overlap that loading.
import type { Config } from '../config/index.js';
import { RealizeError } from '../model/errors.js';
import type { SshConnection } from '../transport/ssh-client.js';
import { spawnRemote, splitCommand, type CommandConnection } from '../transport/ssh-command.js';
import type { EndpointSpec } from './endpoint.js';

export type SshSpec = Extract<EndpointSpec, { kind: 'ssh' }>;
export type PeerSpec = Extract<EndpointSpec, { kind: 'peer' }>;

/** Runs `RSH [USER@]HOST REMOTE_SERVE --stdio --root PATH`. */
export function dialRemote(spec: SshSpec, rsh: string, remoteServe: string): Promise<CommandConnection> {
  return spawnRemote(rsh, spec.userHost, [...splitCommand(remoteServe), '--stdio', '--root', spec.path]);
}

/** Dials a configured peer over ssh2, its host key pinned. ssh2 is loaded only now: HOST:PATH runs the ssh binary. */
export async function dialPeer(spec: PeerSpec, config: Config): Promise<SshConnection> {
  const peer = config.peers.get(spec.peer)!;
  if (!peer.address) throw new RealizeError('usage', `peer ${spec.peer} has no address in ${config.file}: it only dials out`);
  if (!config.localKey) throw new RealizeError('config', `${config.file}: privkey is not set; this peer needs a key to dial ${spec.peer}`);
  const { dialSsh } = await import('../transport/ssh-client.js');
  return dialSsh({
    host: peer.address.host,
    port: peer.address.port,
    privateKey: config.localKey.sshKey,
    hostKeyBlob: peer.publicKey.blob,
    peerName: spec.peer,
  });
}

/** An end's transport, started before the run. */
export type DialedEnd = { kind: 'ssh'; conn: Promise<CommandConnection> } | { kind: 'peer'; conn: Promise<SshConnection> };

/** The ends started before the run: any peer, and the first HOST:PATH end only (two ssh commands would prompt on one terminal at once). */
export interface Dialed {
  src?: DialedEnd;
  dst?: DialedEnd;
}

/** Starts a remote end's transport. */
export function dialEnd(spec: SshSpec | PeerSpec, rsh: string, remoteServe: string, config: Config | undefined): DialedEnd {
  return spec.kind === 'peer' ? { kind: 'peer', conn: dialPeer(spec, config!) } : { kind: 'ssh', conn: dialRemote(spec, rsh, remoteServe) };
}

/** Starts what `dialed` holds; runSync takes the ends over (and closes them). */
export function dialFirst(src: EndpointSpec, dst: EndpointSpec, rsh: string, remoteServe: string, config: Config): Dialed {
  const dial = (spec: EndpointSpec, sshToo: boolean): DialedEnd | undefined => {
    if (spec.kind === 'local' || (spec.kind === 'ssh' && !sshToo)) return undefined;
    const end = dialEnd(spec, rsh, remoteServe, config);
    // Failures are seen where the connection is used; never unhandled meanwhile.
    end.conn.catch(() => {});
    return end;
  };
  return { src: dial(src, true), dst: dial(dst, src.kind !== 'ssh') };
}

/** Closes what was dialed and never used (the run failed before it began). */
export function hangUpDialed(dialed: Dialed): void {
  for (const end of [dialed.src, dialed.dst]) void end?.conn.then((c) => c.close(), () => {});
}
