// Realize's public API for programs: `import { hashFile } from 'realize'`.
export { BLOCK_SIZE } from './native.js';
