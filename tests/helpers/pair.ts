import { Duplex, PassThrough } from 'node:stream';

/** Two connected in-memory duplex streams, like the ends of a pipe. */
export function duplexPair(): [Duplex, Duplex] {
  const ab = new PassThrough();
  const ba = new PassThrough();
  return [Duplex.from({ readable: ba, writable: ab }), Duplex.from({ readable: ab, writable: ba })];
}
