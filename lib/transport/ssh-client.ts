// The SSH client (ssh2) that dials a configured peer: the host key must be
// the peer's configured public key (no trust on first use), we authenticate
// with our own key, and the "realize" subsystem channel is the session's
// byte stream.
import ssh2 from 'ssh2';
import type { Duplex } from 'node:stream';
import { RealizeError } from '../model/errors.js';
import { ALGORITHMS, SSH_USER, SUBSYSTEM } from './ssh-algorithms.js';

export interface SshDialOptions {
  host: string;
  port: number;
  /** Our private key in a form ssh2 accepts (OpenSSH). */
  privateKey: string | Buffer;
  /** The SSH wire blob of the key the server must present. */
  hostKeyBlob: Buffer;
  /** For messages: the peer's name. */
  peerName: string;
  timeoutMs?: number;
}

export interface SshConnection {
  stream: Duplex;
  close(): void;
}

export function dialSsh(opts: SshDialOptions): Promise<SshConnection> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let hostKeyRejected = false;
    let settled = false;
    const fail = (err: RealizeError) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(err);
    };
    client.on('ready', () => {
      client.setNoDelay(true);
      client.subsys(SUBSYSTEM, (err, stream) => {
        if (err) return fail(new RealizeError('protocol', `peer ${opts.peerName} refused the realize channel: ${err.message}`));
        settled = true;
        stream.on('close', () => client.end());
        resolve({ stream, close: () => client.end() });
      });
    });
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      const where = `${opts.host}:${opts.port}`;
      if (hostKeyRejected) return fail(new RealizeError('auth', `peer ${opts.peerName} (${where}) presented a host key that is not its configured pubkey; refusing`));
      if (err.level === 'client-authentication') return fail(new RealizeError('auth', `peer ${opts.peerName} (${where}) refused our key: add our public key to its config`));
      const why = err.code === 'ECONNREFUSED' ? 'connection refused' : err.code === 'ETIMEDOUT' ? 'timed out' : err.message;
      fail(new RealizeError('network', `cannot reach peer ${opts.peerName} at ${where}: ${why}`));
    });
    client.on('close', () => fail(new RealizeError('network', `peer ${opts.peerName} closed the connection`)));
    client.connect({
      host: opts.host,
      port: opts.port,
      username: SSH_USER,
      privateKey: opts.privateKey,
      algorithms: ALGORITHMS,
      readyTimeout: opts.timeoutMs ?? 20_000,
      keepaliveInterval: 15_000,
      hostVerifier: (key: Buffer) => {
        hostKeyRejected = !key.equals(opts.hostKeyBlob);
        return !hostKeyRejected;
      },
    });
  });
}
