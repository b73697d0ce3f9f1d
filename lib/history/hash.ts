// The hash the history records: the file's BLAKE3 root in hex (what `b3sum`
// prints), computed by the native addon.
import { hashFile } from '../native.js';

/** Returns the BLAKE3 root (64 lowercase hex digits) of the file at an absolute path. */
export type HashFn = (absPath: string) => Promise<string>;

export const hashRoot: HashFn = async (absPath) => (await hashFile(absPath)).root;
