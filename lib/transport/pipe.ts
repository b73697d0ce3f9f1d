// A Duplex over two descriptors whose bytes are moved by native threads
// (native/src/pipe.rs): the session's stream on stdin/stdout, or on the pipes
// to an ssh child. Node's own pipe streams hand over 64 KiB per wakeup of the
// JS thread; on two cores that costs as much CPU as the copy, and leaves the
// ssh process at the other end waiting on a full pipe.
//
// Into a pipe, pieces of 256 KiB or more are spliced, not copied: the pipe
// points at their memory until the other end reads it, so such a buffer must
// not be changed after it is written, even once the write is done. The
// session's callers reuse a bulk buffer only after the request's reply.
import { Duplex } from 'node:stream';
import { RealizeError } from '../model/errors.js';
import { openPipe } from '../native.js';

/** The stream reading `readFd` and writing `writeFd`, which it takes over. */
export function pipeStream(readFd: number, writeFd: number): Duplex {
  let written: ((err?: Error | null) => void) | undefined;
  const settle = (err?: Error) => {
    const cb = written;
    written = undefined;
    cb?.(err ?? null);
  };
  const stream: Duplex = new Duplex({
    read() {
      handle.resume();
    },
    writev(chunks, cb) {
      written = cb;
      handle.write(chunks.map((c) => c.chunk as Buffer));
    },
    final(cb) {
      written = cb;
      handle.end();
    },
    destroy(err, cb) {
      handle.close();
      // A write the close dropped reports the failure, never nothing.
      settle(err ?? new RealizeError('network', 'the connection was closed'));
      cb(err);
    },
  });
  const handle = openPipe(readFd, writeFd, {
    onData: (data) => {
      if (!stream.push(data)) handle.pause();
    },
    onEnd: () => stream.push(null),
    onError: (err) => stream.destroy(err),
    onWritten: (err) => settle(err),
  });
  return stream;
}
