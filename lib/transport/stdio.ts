// The session's byte stream on stdin/stdout (realize-serve --stdio), moved by
// native threads: process.stdin and process.stdout are never opened, so
// nothing else can write into the protocol's stream.
import type { Duplex } from 'node:stream';
import { pipeStream } from './pipe.js';

export function stdioStream(): Duplex {
  return pipeStream(0, 1);
}
