// `[USER@]HOST:PATH` endpoints: run `ssh HOST realize-serve --stdio --root PATH`
// with the ssh binary (as rsync does), so ~/.ssh/config, agents and
// known_hosts work unchanged. The child's stdin/stdout are the session stream.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import { promisify } from 'node:util';
import { finished, type Duplex } from 'node:stream';
import { RealizeError } from '../model/errors.js';
import { closeFd, newPipe } from '../native.js';
import { pipeStream } from './pipe.js';

const execFileAsync = promisify(execFile);

export interface CommandConnection {
  stream: Duplex;
  child: ChildProcess;
  /** What the remote side printed on stderr (for error messages). */
  stderr(): string;
  close(): void;
}

/** Splits a command line like `ssh -p 2222 -i key` into words (simple quotes and double quotes). */
export function splitCommand(cmd: string): string[] {
  const words: string[] = [];
  const re = /"((?:\\.|[^"\\])*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(cmd))) words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3]!));
  return words;
}

/** Quotes a word for the remote shell. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_\/.,:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Options that make OpenSSH's ssh prefer the AES-GCM ciphers (hardware
 * accelerated on x86 and ARMv8: a third faster than its default
 * chacha20-poly1305 for bulk data here) for `userHost`: the same ciphers its
 * configuration allows, in another order. None when `cmd` is not ssh, `args`
 * already name ciphers, or `ssh -G` cannot tell.
 */
export async function preferAesGcm(cmd: string, args: string[], userHost: string): Promise<string[]> {
  if (basename(cmd) !== 'ssh' || args.some((a) => a === '-c' || /ciphers/i.test(a))) return [];
  let settings: string;
  try {
    settings = (await execFileAsync(cmd, [...args, '-G', userHost], { timeout: 2000 })).stdout;
  } catch {
    return [];
  }
  const listed = /^ciphers (\S+)$/m.exec(settings)?.[1]?.split(',') ?? [];
  const gcm = listed.filter((c) => /^aes\d+-gcm@openssh\.com$/.test(c));
  if (gcm.length === 0 || listed.slice(0, gcm.length).every((c, i) => c === gcm[i])) return [];
  return ['-o', `Ciphers=${[...gcm, ...listed.filter((c) => !gcm.includes(c))].join(',')}`];
}

export async function spawnRemote(rsh: string, userHost: string, remoteCommand: string[]): Promise<CommandConnection> {
  const [cmd, ...args] = splitCommand(rsh);
  if (!cmd) throw new RealizeError('usage', 'empty --rsh command');
  const prefer = await preferAesGcm(cmd, args, userHost);
  // The child's stdin and stdout are pipes whose other ends native threads
  // move (transport/pipe.ts); stderr stays a Node stream, for messages.
  const [childIn, toChild] = newPipe();
  const [fromChild, childOut] = newPipe();
  let child: ChildProcess;
  try {
    child = spawn(cmd, [...args, ...prefer, userHost, remoteCommand.map(shellQuote).join(' ')], { stdio: [childIn, childOut, 'pipe'] });
  } catch (e) {
    closeFd(toChild);
    closeFd(fromChild);
    throw e;
  } finally {
    closeFd(childIn);
    closeFd(childOut);
  }
  let stream: Duplex;
  try {
    stream = pipeStream(fromChild, toChild);
  } catch (e) {
    child.kill();
    throw e;
  }
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    if (err.length < 4096) err += d;
  });
  child.on('error', (e: NodeJS.ErrnoException) => {
    stream.destroy(new RealizeError('usage', e.code === 'ENOENT' ? `cannot run ${cmd}: not found (set -e/--rsh)` : `cannot run ${cmd}: ${e.message}`));
  });
  return {
    stream,
    child,
    stderr: () => err.trim(),
    close: () => {
      // Once our end of input is out, the far end has all it will get and
      // exits on its own. Its last chores (freeing the pages of a large file
      // it replaced takes a quarter of a second per GiB) and ssh's teardown
      // are not waited for: ssh finishes in the background.
      stream.end();
      finished(stream, { readable: false }, () => {
        stream.destroy();
        child.stderr?.destroy();
        child.unref();
      });
      setTimeout(() => child.kill(), 5000).unref();
    },
  };
}
