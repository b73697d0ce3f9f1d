// Realize's public API for programs: `import { hashFile } from 'realize'`.
export { BLOCK_SIZE, hashFile, hashBlocks, rootFromBlocks, verifyBlocks } from './native.js';
export type { FileHash } from './native.js';
