// A real OpenSSH sshd on a loopback port, for the `HOST:PATH` endpoints and
// `realize-serve --stdio` over ssh.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort } from './net.js';

export interface Sshd {
  port: number;
  /** `-e/--rsh` command that reaches this sshd as the current user with the test key. */
  rsh: string;
  userHost: string;
  stop(): void;
}

export async function startSshd(dir: string): Promise<Sshd> {
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const userKey = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', userKey]);
  const authorized = join(dir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(userKey + '.pub'));
  chmodSync(authorized, 0o600);
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorized}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'LogLevel ERROR',
      // For sshfs mounts of this machine's directories (a network file system in the tests).
      'Subsystem sftp internal-sftp',
      `SetEnv PATH=${process.env.PATH} XDG_CACHE_HOME=${join(dir, 'cache')}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  // Passed on, except the line sshd logs for the readiness probe's bare connection.
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    const lines = d.split('\n').filter((l) => l && !l.includes('kex_exchange_identification'));
    if (lines.length > 0) process.stderr.write(lines.join('\n') + '\n');
  });
  await waitForPort(port);
  const user = process.env.USER || 'root';
  return {
    port,
    rsh: `ssh -p ${port} -i ${userKey} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -o Ciphers=aes128-gcm@openssh.com`,
    userHost: `${user}@127.0.0.1`,
    stop: () => child.kill(),
  };
}
