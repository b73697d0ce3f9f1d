// Starting ssh for a HOST:PATH end. Kept apart from connect.ts, and light:
// realize-sync starts ssh before it loads the rest of itself, so ssh's
// handshake and the remote login (most of a short run) overlap that loading.
import { spawnRemote, splitCommand, type CommandConnection } from '../transport/ssh-command.js';
import type { EndpointSpec } from './endpoint.js';

export type SshSpec = Extract<EndpointSpec, { kind: 'ssh' }>;

/** Runs `RSH [USER@]HOST REMOTE_SERVE --stdio --root PATH`. */
export function dialRemote(spec: SshSpec, rsh: string, remoteServe: string): Promise<CommandConnection> {
  return spawnRemote(rsh, spec.userHost, [...splitCommand(remoteServe), '--stdio', '--root', spec.path]);
}

/** The ends started before the run: SRC's and DST's ssh, at most one (two would prompt on one terminal at once). */
export interface Dialed {
  src?: Promise<CommandConnection>;
  dst?: Promise<CommandConnection>;
}

/** Starts the ssh of the first HOST:PATH end; runSync takes it over (and closes it). */
export function dialFirst(src: EndpointSpec, dst: EndpointSpec, rsh: string, remoteServe: string): Dialed {
  const started = (p: Promise<CommandConnection>) => {
    // Failures are seen where the connection is used; never unhandled meanwhile.
    p.catch(() => {});
    return p;
  };
  if (src.kind === 'ssh') return { src: started(dialRemote(src, rsh, remoteServe)) };
  if (dst.kind === 'ssh') return { dst: started(dialRemote(dst, rsh, remoteServe)) };
  return {};
}

/** Closes what was dialed and never used (the run failed before it began). */
export function hangUpDialed(dialed: Dialed): void {
  for (const p of [dialed.src, dialed.dst]) void p?.then((c) => c.close(), () => {});
}
