#!/usr/bin/env node
import { Command } from 'clipanion';
import { RealizeCommand, notImplemented, runCli } from '../lib/ui/cli.js';

class ServeCommand extends RealizeCommand {
  static override paths = [Command.Default];
  static override usage = Command.Usage({
    description: 'serve this peer\'s arenas to the household',
  });
  async run(): Promise<number> {
    notImplemented('serving');
  }
}

await runCli('realize-serve', [ServeCommand]);
