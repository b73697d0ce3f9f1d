// Renders realize-sync's events: JSON lines (--json), or the human lines of
// DESIGN §2, with live bars for files in progress when stdout is a terminal.
import type { SyncEvent, FileAction } from '../sync/events.js';
import { formatRate, formatSize } from '../model/units.js';

export interface Output {
  write(e: SyncEvent): void;
  /** Stops live rendering (before exit). */
  close(): void;
}

const PROGRESS_EVERY_MS = 250;

export function jsonOutput(out: NodeJS.WritableStream): Output {
  const lastProgress = new Map<string, number>();
  // Lines of one turn of the event loop leave in one write: a batch of small
  // files finishes 128 at a time.
  let pending: string[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    out.write(pending.join(''));
    pending = [];
  };
  return {
    write(e) {
      if (e.event === 'file_start') return;
      if (e.event === 'progress') {
        // A file done in one step says so in its file_done, right after.
        if (e.done === e.size && !lastProgress.has(e.path)) return;
        const now = Date.now();
        if (e.done < e.size && now - (lastProgress.get(e.path) ?? 0) < PROGRESS_EVERY_MS) return;
        lastProgress.set(e.path, now);
      }
      if (e.event === 'file_done' || e.event === 'file_error') lastProgress.delete(e.path);
      if (pending.length === 0) setImmediate(flush);
      pending.push(JSON.stringify(e) + '\n');
    },
    close: flush,
  };
}

const VERB: Record<FileAction, string> = {
  moved: 'Moved  ',
  copied: 'Copied ',
  unchanged: 'Same   ',
  would_move: 'Would move',
  would_copy: 'Would copy',
};

interface Active {
  index: number;
  files: number;
  path: string;
  size: number;
  done: number;
  since: number;
}

export function humanOutput(stdout: NodeJS.WriteStream, stderr: NodeJS.WritableStream, opts: { quiet: boolean; verbose: boolean; copy: boolean }): Output {
  const live = stdout.isTTY === true && !opts.quiet;
  const active = new Map<string, Active>();
  let barLines = 0;
  let lastDraw = 0;
  let skipped = 0;

  const clearBars = () => {
    if (live && barLines > 0) stdout.write(`\x1b[${barLines}A\x1b[J`);
    barLines = 0;
  };
  const drawBars = () => {
    if (!live) return;
    const width = Math.max(40, stdout.columns ?? 80);
    const lines = [...active.values()].slice(0, 8).map((a) => barLine(a, width));
    for (const l of lines) stdout.write(l + '\n');
    barLines = lines.length;
    lastDraw = Date.now();
  };
  const above = (stream: NodeJS.WritableStream, line: string) => {
    clearBars();
    stream.write(line + '\n');
    drawBars();
  };

  return {
    write(e) {
      switch (e.event) {
        case 'start':
          skipped = e.skipped;
          if (opts.verbose) above(stdout, `${e.files} ${plural(e.files, 'file')}, ${formatSize(e.bytes)}${e.skipped ? `; ${e.skipped} skipped (symlinks, special files, empty directories)` : ''}`);
          return;
        case 'file_start':
          active.set(e.path, { index: e.index, files: e.files, path: e.path, size: e.size, done: 0, since: Date.now() });
          if (live && Date.now() - lastDraw > 100) (clearBars(), drawBars());
          return;
        case 'progress': {
          const a = active.get(e.path);
          if (a) a.done = e.done;
          if (live && Date.now() - lastDraw > 100) (clearBars(), drawBars());
          return;
        }
        case 'file_done':
          active.delete(e.path);
          if (!opts.quiet) above(stdout, `[${e.index}/${e.files}] ${VERB[e.action]} ${e.path} ${formatSize(e.size)}${e.hash ? ' BLAKE3 ' + e.hash : ''}`);
          return;
        case 'file_error':
          active.delete(e.path);
          above(stderr, `[${e.index}/${e.files}] Failed  ${e.path} ${formatSize(e.size)}: ${e.error}`);
          return;
        case 'retry':
          above(stderr, `Retrying in ${e.delay_seconds}s (attempt ${e.attempt}): ${e.error}`);
          return;
        case 'summary': {
          clearBars();
          const verb = opts.copy ? 'copied' : 'moved';
          const moved = `${e.files_ok} ${plural(e.files_ok, 'file')} ${verb}`;
          const skip = skipped && opts.verbose ? `, ${skipped} skipped` : '';
          if (e.interrupted) stderr.write(`Interrupted: ${moved}; partial files are kept, run the same command again to resume\n`);
          else if (e.timed_out) stderr.write(`Error: --max-duration exceeded: ${moved}${e.error ? ` (last error: ${e.error})` : ''}\n`);
          else if (e.files_failed > 0) stderr.write(`Error: ${e.files_failed} ${plural(e.files_failed, 'file')} failed, ${moved}\n`);
          else if (!opts.quiet) stdout.write(`Success: ${moved}${skip}\n`);
          return;
        }
      }
    },
    close: clearBars,
  };
}

function barLine(a: Active, width: number): string {
  const seconds = Math.max(0.001, (Date.now() - a.since) / 1000);
  const rate = formatRate(a.done / seconds);
  const barWidth = 20;
  const filled = a.size > 0 ? Math.min(barWidth, Math.floor((a.done / a.size) * barWidth)) : barWidth;
  const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? '>' : '') + ' '.repeat(barWidth - filled);
  const line = `[${a.index}/${a.files}] Sending [${bar}] ${rate} ${a.path} ${formatSize(a.size)}`;
  return line.length > width - 1 ? line.slice(0, width - 2) + '…' : line;
}

function plural(n: number, word: string): string {
  return n === 1 ? word : word + 's';
}
