// The hash the history records: the file's BLAKE3 root in hex, computed by
// the native addon (`hashFile` in lib/native.ts).
import * as native from '../native.js';
import { RealizeError } from '../model/errors.js';

/** Returns the BLAKE3 root (64 lowercase hex digits) of the file at an absolute path. */
export type HashFn = (absPath: string) => Promise<string>;

type NativeHashFile = (path: string) => Promise<{ root: string | Uint8Array }>;

export const hashRoot: HashFn = async (absPath) => {
  const hashFile = (native as unknown as { hashFile?: NativeHashFile }).hashFile;
  if (typeof hashFile !== 'function') {
    throw new RealizeError('not_implemented', "hashFile is missing from the native addon; run 'npm run build:native'");
  }
  const { root } = await hashFile(absPath);
  return typeof root === 'string' ? root : Buffer.from(root).toString('hex');
};
