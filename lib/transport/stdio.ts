// The session's byte stream on stdin/stdout (realize-serve --stdio), moved by
// native threads. Node's process.stdout exists (clipanion opens it) but must
// never be written: the protocol's bytes share that descriptor.
import type { Duplex } from 'node:stream';
import { pipeStream } from './pipe.js';

export function stdioStream(): Duplex {
  return pipeStream(0, 1);
}
