#!/usr/bin/env node
import { Command, Option } from 'clipanion';
import { RealizeCommand, notImplemented, runCli } from '../lib/ui/cli.js';

class SyncCommand extends RealizeCommand {
  static override paths = [Command.Default];
  static override usage = Command.Usage({
    description: 'move (or copy) a tree to or from a peer',
    details: `
      Afterwards every regular file of SRC is in DST, verified with BLAKE3, and gone from SRC (kept with --copy).
      SRC and DST are each a local directory, PEER:ARENA[/SUBDIR] for a peer of the config, or [USER@]HOST:PATH, reached by running \`ssh HOST realize-serve --stdio --root PATH\`.
    `,
    examples: [
      ['Move a local folder into the "photos" arena of the peer "nas"', '$0 ~/Pictures/incoming nas:photos/2026'],
      ['Copy a tree over plain ssh', '$0 --copy ./docs me@host:/srv/docs'],
    ],
  });
  src = Option.String();
  dst = Option.String();
  async run(): Promise<number> {
    notImplemented('moving files');
  }
}

await runCli('realize-sync', [SyncCommand]);
