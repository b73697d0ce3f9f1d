// `npm run bench [NAME...]`: runs every benchmark, or those named, in order.
// Each module exports `run(): Promise<void>`, which prints its own lines.
// To add one, append it to BENCHES.
import { quietNodeStart, quietVmMemory } from './util.js';

interface Bench {
  run(): Promise<void>;
}

const BENCHES: [name: string, load: () => Promise<Bench>][] = [
  ['hash', () => import('./hash.js')],
  ['delta', () => import('./delta.js')],
  ['protocol', () => import('./protocol.js')],
  ['history', () => import('./history.js')],
  ['sync', () => import('./sync.js')],
];

async function main(names: string[]): Promise<number> {
  const known = BENCHES.map(([n]) => n);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    console.error(`bench: unknown benchmark ${unknown.join(', ')} (known: ${known.join(', ')})`);
    return 1;
  }
  const restoreVm = quietVmMemory();
  const restoreEnv = quietNodeStart();
  try {
    for (const [name, load] of BENCHES) {
      if (names.length > 0 && !names.includes(name)) continue;
      await (await load()).run();
    }
  } finally {
    restoreEnv();
    restoreVm();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
