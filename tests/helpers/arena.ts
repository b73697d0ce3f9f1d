// A fresh arena 'a' in its own directory, served by a RealStore.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RealStore } from '../../lib/storage/real.js';
import { tempDir } from './tmp.js';

let n = 0;

export function tempArena(): { root: string; store: RealStore } {
  const root = join(tempDir(), `arena${n++}`);
  mkdirSync(root);
  return { root, store: new RealStore(new Map([['a', root]])) };
}
