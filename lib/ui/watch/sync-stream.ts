// `realize-watch -`: reads a `realize-sync --json` stream (DESIGN §2) and
// turns each event into the model's inputs.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { SyncEvent } from '../../sync/events.js';
import { formatDuration, formatSize } from '../../model/units.js';
import type { WatchInput } from './model.js';

/** Exit statuses realize-watch mirrors from the stream's summary (DESIGN §2). */
const EXIT = { ok: 0, error: 1, timeout: 11, interrupted: 20 } as const;

export interface SyncConverter {
  /** The model inputs one stream event stands for (none for the ones it does not show). */
  convert(event: SyncEvent): WatchInput[];
  /** What the stream's summary says the run ended with; 1 if there was none. */
  exitCode(): number;
}

export function syncConverter(): SyncConverter {
  let verb = 'moved';
  let code: number | undefined;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return {
    convert(e) {
      switch (e.event) {
        case 'start':
          return [{ type: 'run', phase: 'start', files: e.files, bytes: e.bytes, text: `${plural(e.files, 'file')}, ${formatSize(e.bytes)} to do${e.skipped ? `; ${e.skipped} skipped` : ''}` }];
        case 'file_start':
          return [{ type: 'transfer', id: e.path, path: e.path, size: e.size, done: 0, state: 'active' }];
        case 'progress':
          return [{ type: 'transfer', id: e.path, path: e.path, size: e.size, done: e.done, state: 'active' }];
        case 'file_done':
          if (e.action === 'copied' || e.action === 'would_copy') verb = 'copied';
          return [{ type: 'transfer', id: e.path, path: e.path, size: e.size, done: e.size, state: 'done', action: e.action, hash: e.hash || undefined }];
        case 'file_error':
          return [{ type: 'transfer', id: e.path, path: e.path, size: e.size, done: 0, state: 'failed', error: e.error }];
        case 'retry':
          return [{ type: 'run', phase: 'retry', text: `retrying in ${formatDuration(e.delay_seconds * 1000)} (attempt ${e.attempt}): ${e.error}` }];
        case 'summary': {
          const ok = e.files_failed === 0 && !e.error && !e.interrupted && !e.timed_out;
          code = e.interrupted ? EXIT.interrupted : e.timed_out ? EXIT.timeout : ok ? EXIT.ok : EXIT.error;
          const done = `${plural(e.files_ok, 'file')} ${verb}`;
          const why = e.error ? `${e.error}; ` : e.interrupted ? 'interrupted; ' : e.timed_out ? 'time limit reached; ' : '';
          const text = ok
            ? `Success: ${done} (${formatSize(e.bytes)} in ${formatDuration(e.seconds * 1000)})`
            : `Error: ${why}${e.files_failed ? `${plural(e.files_failed, 'file')} failed, ` : ''}${done}`;
          return [{ type: 'run', phase: 'summary', ok, text }];
        }
        default:
          return [];
      }
    },
    exitCode: () => code ?? EXIT.error,
  };
}

/**
 * Feeds `apply` with the inputs of every line of a `--json` stream, until it
 * ends or `signal` aborts. A line that is not a JSON event becomes a note.
 */
export async function feedSyncStream(input: Readable, apply: (i: WatchInput) => void, converter: SyncConverter, signal?: AbortSignal): Promise<void> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  const stop = () => lines.close();
  signal?.addEventListener('abort', stop);
  try {
    for await (const line of lines) {
      if (signal?.aborted) break;
      if (line.trim() === '') continue;
      let event: SyncEvent | undefined;
      try {
        const parsed = JSON.parse(line) as unknown;
        if (parsed && typeof parsed === 'object' && typeof (parsed as { event?: unknown }).event === 'string') event = parsed as SyncEvent;
      } catch {
        // reported below
      }
      if (!event) {
        apply({ type: 'run', phase: 'note', text: `ignoring a line that is not a realize-sync --json event: ${line.slice(0, 60)}` });
        continue;
      }
      for (const i of converter.convert(event)) apply(i);
    }
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}
