// The SSH server of realize-serve (ssh2). Its host key is the peer's key; a
// client is admitted only if its public key is a configured peer, checked
// before any request is read; each "realize" subsystem channel is handed over
// as a duplex stream.
import type { Server as TcpServer } from 'node:net';
import ssh2 from 'ssh2';
import type { Duplex } from 'node:stream';
import { RealizeError } from '../model/errors.js';
import type { Logger } from '../model/log.js';
import { ALGORITHMS, SUBSYSTEM } from './ssh-algorithms.js';

export interface AdmittedPeer {
  name: string;
}

export interface SshServerOptions {
  /** This peer's private key, in a form ssh2 accepts (OpenSSH). */
  hostKey: string | Buffer;
  host: string;
  port: number;
  /** The configured peer whose public key has this SSH wire blob, if any. */
  admit(keyBlob: Buffer): AdmittedPeer | undefined;
  onChannel(stream: Duplex, peer: AdmittedPeer): void;
  log: Logger;
  /** Seconds a connection may take to authenticate. */
  authTimeoutSeconds?: number;
}

export interface SshServer {
  address(): { host: string; port: number };
  close(): Promise<void>;
}

export async function startSshServer(opts: SshServerOptions): Promise<SshServer> {
  const server = new ssh2.Server({ hostKeys: [opts.hostKey], algorithms: ALGORITHMS }, (client, info) => {
    const from = `${info.ip}:${info.port}`;
    // Requests are small frames awaiting answers: Nagle's delay would cost every round trip.
    (client as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
    let peer: AdmittedPeer | undefined;
    const timer = setTimeout(() => client.end(), (opts.authTimeoutSeconds ?? 30) * 1000);
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const who = opts.admit(ctx.key.data);
      if (!who) {
        opts.log.warn(`refused ${from}: unknown key`);
        return ctx.reject(['publickey']);
      }
      if (ctx.signature) {
        const key = ssh2.utils.parseKey(ctx.key.data);
        if (key instanceof Error || key.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) {
          opts.log.warn(`refused ${from}: bad signature for peer ${who.name}`);
          return ctx.reject(['publickey']);
        }
        peer = who;
      }
      ctx.accept();
    });
    client.on('ready', () => {
      clearTimeout(timer);
      if (!peer) return client.end();
      opts.log.info(`peer ${peer.name} connected from ${from}`);
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('subsystem', (accept, reject, sub) => {
          if (sub.name !== SUBSYSTEM) return reject?.();
          opts.onChannel(accept(), peer!);
        });
        session.on('exec', (_a, reject) => reject?.());
        session.on('shell', (_a, reject) => reject?.());
        session.on('pty', (_a, reject) => reject?.());
      });
    });
    client.on('close', () => {
      clearTimeout(timer);
      if (peer) opts.log.info(`peer ${peer.name} disconnected (${from})`);
    });
    client.on('error', (err) => opts.log.debug(`connection from ${from}: ${err.message}`));
  });
  // ssh2's Server wraps a net.Server; listen through it and map errors to one line.
  const tcp = (server as unknown as { _srv: TcpServer })._srv;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EACCES' ? 'permission denied' : err.message;
      reject(new RealizeError('usage', `cannot listen on ${opts.host}:${opts.port}: ${why}`));
    };
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err: Error) => opts.log.error(`listener: ${err.message}`));
  return {
    address() {
      const a = tcp.address() as { address: string; port: number };
      return { host: a.address, port: a.port };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
