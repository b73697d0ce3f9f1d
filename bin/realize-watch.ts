#!/usr/bin/env node
import { Command, Option } from 'clipanion';
import { RealizeError } from '../lib/model/errors.js';
import { loadConfig } from '../lib/config/index.js';
import { followHousehold } from '../lib/daemon/follow.js';
import { RealizeCommand, runCli } from '../lib/ui/cli.js';
import { WatchModel, renderPlain, renderWatch, runWatchStdin } from '../lib/ui/watch/index.js';

class WatchCommand extends RealizeCommand {
  static override paths = [Command.Default];
  static override usage = Command.Usage({
    description: 'a terminal view of the household: peers, history, transfers, cache',
    details: `
      With a config (\`--config\`, \`$REALIZE_CONFIG\` or the default), it dials every listening peer with this peer's key and shows their connection state and the history of every arena they share, live. Without a terminal it prints one line per event (\`add nas:photos/2026/IMG_1.jpg 4.2M\`) until interrupted.

      With \`-\`, renders a \`realize-sync --json\` stream read from stdin: files in progress with a bar and a rate, finished and failed files, the summary. On a terminal it stays after the end of the stream until \`q\`, and its exit status is the one the stream's summary reports; otherwise it prints one plain line per event.

      Keys: \`q\` quits, the arrows and PgUp/PgDn scroll the history.
    `,
    examples: [
      ['Watch the household', '$0 --config ~/.config/realize/realize.toml'],
      ['Watch a sync as it runs', 'realize-sync --json ./in nas:photos | $0 -'],
      ['Replay a recorded run', '$0 - < run.jsonl'],
    ],
  });
  config = Option.String('--config', { description: 'config file' });
  input = Option.String({ required: false, name: '-' });
  async run(): Promise<number> {
    if (this.input === '-') return runWatchStdin(process.stdin, process.stdout);
    if (this.input !== undefined) throw new RealizeError('usage', `unexpected argument '${this.input}'; use '-' to read a realize-sync --json stream from stdin`);
    const config = await loadConfig({ path: this.config });
    if (!config.localKey) throw new RealizeError('config', `${config.file ?? 'the config'}: privkey is not set; realize-watch dials the peers with this peer's key`);
    const listening = [...config.peers.values()].filter((p) => p.address);
    if (listening.length === 0) throw new RealizeError('config', `${config.file ?? 'the config'} names no listening peer (a [peers] entry with an address) to watch`);
    const model = new WatchModel();
    const follow = followHousehold(config, (e) => model.apply(e));
    try {
      if (process.stdout.isTTY !== true) {
        const stop = renderPlain(model, process.stdout);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        stop();
        return 0;
      }
      const view = renderWatch(model, { source: config.file });
      await view.waitUntilExit();
      return 0;
    } finally {
      follow.close();
    }
  }
}

await runCli('realize-watch', [WatchCommand]);
