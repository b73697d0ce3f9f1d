// The session's byte stream on stdin/stdout (realize-serve --stdio).
import { Duplex } from 'node:stream';

export function stdioStream(): Duplex {
  return Duplex.from({ readable: process.stdin, writable: process.stdout });
}
