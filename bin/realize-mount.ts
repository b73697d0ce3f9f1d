#!/usr/bin/env node
import { Command, Option } from 'clipanion';
import { RealizeCommand, notImplemented, runCli } from '../lib/ui/cli.js';

class MountCommand extends RealizeCommand {
  static override paths = [Command.Default];
  static override usage = Command.Usage({
    description: 'serve every peer\'s files as one read-only NFSv3 tree',
  });
  config = Option.String('--config', { description: 'config file (default $REALIZE_CONFIG or ~/.config/realize/realize.toml)' });
  port = Option.String('--port', { description: 'NFS and MOUNT port (default 9772)' });
  mountpoint = Option.String({ required: false });
  async run(): Promise<number> {
    notImplemented('mounting');
  }
}

await runCli('realize-mount', [MountCommand]);
