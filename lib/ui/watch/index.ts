// realize-watch's renderers. Whoever has events (the stdin reader here, the
// daemon's history subscriptions for `--config`) applies them to a
// WatchModel; `renderWatch` shows it with ink on a terminal, `renderPlain`
// prints one line per event otherwise.
import { openSync } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { ReadStream } from 'node:tty';
import { createElement } from 'react';
import { render } from 'ink';
import { RealizeError } from '../../model/errors.js';
import { WatchApp } from './app.js';
import { WatchModel } from './model.js';
import { renderPlain } from './plain.js';
import { feedSyncStream, syncConverter } from './sync-stream.js';

export { WatchModel } from './model.js';
export type { WatchInput, WatchState, PeerState, FeedChange } from './model.js';
export { renderPlain, plainLine } from './plain.js';
export { WatchApp } from './app.js';
export { syncConverter, feedSyncStream } from './sync-stream.js';

export interface RenderWatchOptions {
  /** Where to draw (default process.stdout). */
  stdout?: NodeJS.WriteStream;
  /** Where keys come from (default process.stdin); without a terminal there, the arrows and `q` are off. */
  keyboard?: NodeJS.ReadStream;
  /** Shown in the header, e.g. 'realize-sync on stdin'. */
  source?: string;
  /** Called when the user presses q. */
  onQuit?: () => void;
}

export interface WatchView {
  /** Resolves when the app exits (q, Ctrl+C, or `unmount`). */
  waitUntilExit(): Promise<unknown>;
  unmount(): void;
}

/** Draws `model` with ink until the user quits or `unmount()`. */
export function renderWatch(model: WatchModel, options: RenderWatchOptions = {}): WatchView {
  const app = render(createElement(WatchApp, { model, source: options.source, onQuit: options.onQuit }), {
    stdout: options.stdout ?? process.stdout,
    stdin: options.keyboard ?? process.stdin,
    patchConsole: false,
    exitOnCtrlC: true,
  });
  return { waitUntilExit: () => app.waitUntilExit(), unmount: () => app.unmount() };
}

/** The controlling terminal, for keys when stdin carries data; null if there is none. */
export function openKeyboard(): ReadStream | null {
  try {
    return new ReadStream(openSync('/dev/tty', 'r'));
  } catch {
    return null;
  }
}

export interface WatchStdinOptions {
  /** Where keys come from on a terminal (default: /dev/tty; null: none, exit at the end of input). */
  keyboard?: NodeJS.ReadStream | null;
}

/**
 * `realize-watch -`: renders the `realize-sync --json` stream on `input`.
 * On a terminal, the ink UI stays after the end of input until `q`; else one
 * plain line per event until the end of input. Returns the exit status: the
 * one the stream's summary reports (0 success, 1 failure or no summary, 11
 * time limit, 20 interrupted), or 0 if the user quit before it.
 */
export async function runWatchStdin(input: Readable, output: NodeJS.WriteStream, options: WatchStdinOptions = {}): Promise<number> {
  if ((input as { isTTY?: boolean }).isTTY === true) {
    throw new RealizeError('usage', "stdin is a terminal; pipe a stream into it: realize-sync --json SRC DST | realize-watch -");
  }
  const model = new WatchModel();
  const converter = syncConverter();
  const apply = model.apply.bind(model);
  if (output.isTTY !== true) {
    const stop = renderPlain(model, output);
    try {
      await feedSyncStream(input, apply, converter);
    } finally {
      stop();
    }
    return converter.exitCode();
  }

  const opened = options.keyboard === undefined ? openKeyboard() : null;
  const keyboard = options.keyboard === undefined ? opened : options.keyboard;
  const stopped = new AbortController();
  let quit = false;
  let ended = false;
  const view = renderWatch(model, {
    stdout: output,
    // Never process.stdin: it carries the stream.
    keyboard: keyboard ?? (new PassThrough() as unknown as NodeJS.ReadStream),
    source: 'realize-sync on stdin',
    onQuit: () => {
      quit = true;
      stopped.abort();
    },
  });
  try {
    const feeding = feedSyncStream(input, apply, converter, stopped.signal).then(() => {
      ended = true;
      if (!quit && keyboard) apply({ type: 'run', phase: 'note', text: 'end of input; press q to quit' });
    });
    if (keyboard) {
      await view.waitUntilExit();
      stopped.abort();
      if (!ended) input.destroy();
    } else {
      await feeding;
      await new Promise((r) => setTimeout(r, 100)); // let the last frame draw
      view.unmount();
    }
  } finally {
    opened?.destroy();
  }
  return quit && !ended ? 0 : converter.exitCode();
}
