#!/usr/bin/env node
import { Command, Option } from 'clipanion';
import { RealizeError } from '../lib/model/errors.js';
import { RealizeCommand, notImplemented, runCli } from '../lib/ui/cli.js';
import { runWatchStdin } from '../lib/ui/watch/index.js';

class WatchCommand extends RealizeCommand {
  static override paths = [Command.Default];
  static override usage = Command.Usage({
    description: 'a terminal view of the household: peers, history, transfers, cache',
    details: `
      With \`-\`, renders a \`realize-sync --json\` stream read from stdin: files in progress with a bar and a rate, finished and failed files, the summary. On a terminal it stays after the end of the stream until \`q\`, and its exit status is the one the stream's summary reports; otherwise it prints one plain line per event.

      Keys: \`q\` quits, the arrows and PgUp/PgDn scroll the history.
    `,
    examples: [
      ['Watch a sync as it runs', 'realize-sync --json ./in nas:photos | $0 -'],
      ['Replay a recorded run', '$0 - < run.jsonl'],
    ],
  });
  config = Option.String('--config', { description: 'config file' });
  input = Option.String({ required: false, name: '-' });
  async run(): Promise<number> {
    if (this.input === '-') return runWatchStdin(process.stdin, process.stdout);
    if (this.input !== undefined) throw new RealizeError('usage', `unexpected argument '${this.input}'; use '-' to read a realize-sync --json stream from stdin`);
    notImplemented('watching the household');
  }
}

await runCli('realize-watch', [WatchCommand]);
