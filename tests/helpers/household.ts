// A household of two peers on loopback: "nas" runs realize-serve (a real
// process, a real SSH listener), "laptop" dials it with realize-sync.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair } from '../../lib/model/keys.js';
import { BIN_DIR } from './run.js';
import { freePort, waitForPort } from './net.js';

export interface Household {
  dir: string;
  port: number;
  /** Config of the laptop (the client). */
  laptopConfig: string;
  nasConfig: string;
  /** Arena directories on the nas. */
  arenas: Record<string, string>;
  nasPublicLine: string;
  laptopPublicLine: string;
  serve: ChildProcess;
  serveLog(): string;
  stop(): Promise<void>;
  /** Starts realize-serve again after stop(). */
  restart(): Promise<void>;
}

export interface HouseholdOptions {
  /** Arenas of the nas and which of them the laptop may reach (default: all). */
  arenas?: string[];
  granted?: string[];
}

function key(dir: string, name: string): string {
  const k = generateKeyPair(name);
  writeFileSync(join(dir, `${name}.key`), k.privateKey, { mode: 0o600 });
  return k.publicLine;
}

export async function startHousehold(dir: string, opts: HouseholdOptions = {}): Promise<Household> {
  const arenaNames = opts.arenas ?? ['photos'];
  const port = await freePort();
  const nasPublicLine = key(dir, 'nas');
  const laptopPublicLine = key(dir, 'laptop');
  const arenas: Record<string, string> = {};
  const arenaToml: string[] = [];
  for (const a of arenaNames) {
    arenas[a] = join(dir, 'nas-' + a);
    mkdirSync(arenas[a], { recursive: true });
    arenaToml.push(`[arenas.${a}]`, `path = "${arenas[a]}"`, '');
  }
  const granted = opts.granted ? `arenas = ${JSON.stringify(opts.granted)}` : '';
  const peers = [
    '[peers.nas]',
    `pubkey = "${nasPublicLine}"`,
    `address = "127.0.0.1:${port}"`,
    '',
    '[peers.laptop]',
    `pubkey = "${laptopPublicLine}"`,
    granted,
    '',
  ];
  const nasConfig = join(dir, 'nas.toml');
  writeFileSync(nasConfig, [`privkey = "nas.key"`, `listen = "127.0.0.1:${port}"`, `state = "${join(dir, 'nas-state')}"`, '', ...arenaToml, ...peers].join('\n'));
  const laptopConfig = join(dir, 'laptop.toml');
  const laptopArenas = arenaNames.flatMap((a) => [`[arenas.${a}]`, '']);
  writeFileSync(laptopConfig, [`privkey = "laptop.key"`, `state = "${join(dir, 'laptop-state')}"`, '', ...laptopArenas, ...peers].join('\n'));
  let log = '';
  const start = async () => {
    const child = spawn(process.execPath, [BIN_DIR + 'realize-serve.js', '--config', nasConfig], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    await waitForPort(port);
    return child;
  };
  const household: Household = {
    dir,
    port,
    laptopConfig,
    nasConfig,
    arenas,
    nasPublicLine,
    laptopPublicLine,
    serve: await start(),
    serveLog: () => log,
    stop: () =>
      new Promise<void>((resolve) => {
        const serve = household.serve;
        if (serve.exitCode !== null || serve.signalCode !== null) return resolve();
        serve.once('exit', () => resolve());
        serve.kill('SIGTERM');
      }),
    restart: async () => {
      household.serve = await start();
    },
  };
  return household;
}
