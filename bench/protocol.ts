// Issue 3's benchmark: read and send of a 1 GiB file through the Realize
// protocol over (a) a stdio pipe to `realize-serve --stdio` and (b) an ssh2
// channel to `realize-serve` on loopback, beside (c) OpenSSH piping 1 GiB
// into `cat > /dev/null` through a real sshd. Printed as ratios.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { loadConfig } from '../lib/config/index.js';
import type { ArenaPath } from '../lib/model/path.js';
import { RemoteFiles } from '../lib/protocol/realize-service.js';
import { Session } from '../lib/protocol/session.js';
import { dialSsh } from '../lib/transport/ssh-client.js';
import { startHousehold } from '../tests/helpers/household.js';
import { BIN_DIR } from '../tests/helpers/run.js';
import { startSshd } from '../tests/helpers/sshd.js';
import { bestOf, exec, warm, withTempDir, writeRandomFile } from './util.js';

const SIZE = 1 << 30;
const RANGE = 8 << 20;
const IN_FLIGHT = 4;
const FILE = 'big.bin' as ArenaPath;

async function pump(n: number, f: (offset: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await f(next++ * RANGE);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

async function readAll(files: RemoteFiles, arena: string): Promise<void> {
  await pump(SIZE / RANGE, async (offset) => {
    const b = await files.read(arena, FILE, offset, RANGE);
    if (b.length !== RANGE) throw new Error('short read');
  });
}

async function sendAll(files: RemoteFiles, arena: string, data: Buffer): Promise<void> {
  await pump(SIZE / RANGE, (offset) => files.send(arena, 'sent.bin' as ArenaPath, offset, SIZE, data));
}

function mibps(seconds: number): number {
  return SIZE / (1 << 20) / seconds;
}

export async function run(): Promise<void> {
  await withTempDir('protocol', async (dir) => {
    const arena = join(dir, 'nas-photos');
    const h = await startHousehold(dir);
    await writeRandomFile(join(arena, FILE), SIZE);
    await warm(join(arena, FILE));
    const data = Buffer.alloc(RANGE, 7);
    try {
      // (a) stdio pipe
      const child = spawn(process.execPath, [BIN_DIR + 'realize-serve.js', '--stdio', '--root', arena], { stdio: ['pipe', 'pipe', 'inherit'] });
      const pipeSession = new Session(Duplex.from({ readable: child.stdout, writable: child.stdin }), { hello: { peer: 'bench', arenas: [] } });
      await pipeSession.ready;
      const pipe = new RemoteFiles(pipeSession);
      const pipeRead = await bestOf(3, () => readAll(pipe, 'root'));
      const pipeSend = await bestOf(2, () => sendAll(pipe, 'root', data));
      pipeSession.close();

      // (b) ssh2 channel to the daemon
      const config = await loadConfig({ path: h.laptopConfig });
      const conn = await dialSsh({ host: '127.0.0.1', port: h.port, privateKey: config.localKey!.sshKey, hostKeyBlob: config.peers.get('nas')!.publicKey.blob, peerName: 'nas' });
      const sshSession = new Session(conn.stream, { hello: { peer: 'bench', arenas: [] } });
      await sshSession.ready;
      const ssh = new RemoteFiles(sshSession);
      const sshRead = await bestOf(3, () => readAll(ssh, 'photos'));
      const sshSend = await bestOf(2, () => sendAll(ssh, 'photos', data));
      sshSession.close();
      conn.close();

      // (c) OpenSSH: 1 GiB into cat through a real sshd, same cipher
      mkdirSync(join(dir, 'sshd'));
      const sshd = await startSshd(join(dir, 'sshd'));
      let openssh: number;
      try {
        openssh = await bestOf(3, () => exec('bash', ['-c', `head -c ${SIZE} /dev/zero | ${sshd.rsh} ${sshd.userHost} 'cat > /dev/null'`]));
      } finally {
        sshd.stop();
      }
      const o = mibps(openssh);
      console.log(`protocol 1 GiB, ${IN_FLIGHT} ranges of 8 MiB in flight:`);
      console.log(`  stdio pipe:   read ${mibps(pipeRead).toFixed(0)} MiB/s, send ${mibps(pipeSend).toFixed(0)} MiB/s (target >= 1024 MiB/s)`);
      console.log(`  ssh2 channel: read ${mibps(sshRead).toFixed(0)} MiB/s, send ${mibps(sshSend).toFixed(0)} MiB/s`);
      console.log(`  OpenSSH 'cat > /dev/null': ${o.toFixed(0)} MiB/s`);
      console.log(`  ratio ssh2/OpenSSH: read ${(mibps(sshRead) / o).toFixed(2)}x, send ${(mibps(sshSend) / o).toFixed(2)}x (target >= 0.9)`);
    } finally {
      await h.stop();
    }
  });
}
