// Plain lines for realize-watch when stdout is not a terminal: one line per
// event, naming the peer, the arena and the path as `PEER:ARENA/PATH` (the
// notation realize-sync takes), or the bare path when a stream names neither.
import { formatSize } from '../../model/units.js';
import type { WatchInput, WatchModel } from './model.js';

export function where(peer: string | undefined, arena: string | undefined, path: string): string {
  if (peer && arena) return `${peer}:${arena}/${path}`;
  if (arena) return `${arena}/${path}`;
  return path;
}

const pad = (word: string) => word.padEnd(8);

/** The line an input prints, or undefined for inputs too frequent to print (progress). */
export function plainLine(input: WatchInput): string | undefined {
  switch (input.type) {
    case 'peer':
      return `${pad('peer')}${input.peer} ${input.state}${input.address ? ` ${input.address}` : ''}${input.detail ? ` (${input.detail})` : ''}`;
    case 'history': {
      const e = input.entry;
      const to = where(input.peer, input.arena, e.path);
      if (e.kind === 'rename' && e.from !== undefined) return `${pad('rename')}${where(input.peer, input.arena, e.from)} -> ${to}`;
      return `${pad(e.kind)}${to}${e.size !== undefined && e.kind !== 'remove' ? ` ${formatSize(e.size)}` : ''}`;
    }
    case 'transfer': {
      const at = where(input.peer, input.arena, input.path);
      if (input.state === 'active') return undefined;
      if (input.state === 'failed') return `${pad('failed')}${at} ${formatSize(input.size)}: ${input.error ?? 'failed'}`;
      const verb = (input.action ?? 'done').replace('_', ' ');
      return `${pad(verb)}${at} ${formatSize(input.size)}${input.hash ? ` BLAKE3 ${input.hash}` : ''}`;
    }
    case 'cache': {
      const total = (input.hits ?? 0) + (input.misses ?? 0);
      const rate = total > 0 ? `, ${Math.round((100 * (input.hits ?? 0)) / total)}% hits` : '';
      return `${pad('cache')}${formatSize(input.bytes)}${input.quota !== undefined ? ` of ${formatSize(input.quota)}` : ''}${rate}`;
    }
    case 'run':
      return input.phase === 'summary' ? input.text : `${pad(input.phase)}${input.text}`;
  }
}

/** Prints a line per input applied to `model` from now on; returns the function that stops it. */
export function renderPlain(model: WatchModel, out: NodeJS.WritableStream): () => void {
  return model.subscribe((input) => {
    const line = plainLine(input);
    if (line !== undefined) out.write(line + '\n');
  });
}
