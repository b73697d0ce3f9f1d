// The only module that loads the Rust addon. Everything else imports named
// functions from here, so a missing or stale build fails in one place with a
// message that says what to do.
import { createRequire } from 'node:module';
import type * as Binding from '../native/dist/binding.js';

function load(): typeof Binding {
  const require = createRequire(import.meta.url);
  try {
    return require('../../native/dist/binding.cjs') as typeof Binding;
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new Error(`the native addon is not built (${why}); run 'npm install' or 'npm run build:native'`);
  }
}

const native = load();

export const BLOCK_SIZE = native.BLOCK_SIZE;
