#!/usr/bin/env node
import { Command, Option } from 'clipanion';
import { RealizeCommand, notImplemented, runCli } from '../lib/ui/cli.js';

class WatchCommand extends RealizeCommand {
  static override paths = [Command.Default];
  static override usage = Command.Usage({
    description: 'a terminal view of the household: peers, history, transfers, cache',
  });
  config = Option.String('--config', { description: 'config file' });
  input = Option.String({ required: false, name: '-' });
  async run(): Promise<number> {
    notImplemented('watching');
  }
}

await runCli('realize-watch', [WatchCommand]);
