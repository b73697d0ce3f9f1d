#!/usr/bin/env node
import { hostname, userInfo } from 'node:os';
import { Command, Option } from 'clipanion';
import { writeNewKey } from '../lib/model/keys.js';
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

class KeygenCommand extends RealizeCommand {
  static override paths = [['keygen']];
  static override usage = Command.Usage({
    description: 'make a new ed25519 key for this peer and print its public line',
    details: `
      Writes a new ed25519 private key to FILE in OpenSSH format, readable only by you (mode 0600), and prints its public line (\`ssh-ed25519 AAAA… comment\`) on stdout. An existing FILE is never overwritten. \`ssh-keygen -y -f FILE\` prints the public line again at any time.

      On this peer, point the config at the key: \`privkey = "FILE"\` (a relative path is relative to the config's folder).

      On every other peer, add the printed line to the \`[peers]\` table of its config, under a name of your choice, with this peer's address if it listens (omit \`address\` for a peer that only dials out):

      \`[peers.NAME]\`

      \`pubkey  = "ssh-ed25519 AAAA… comment"\`

      \`address = "HOST:9771"\`

      The same \`[peers]\` table can be copied to every member: each peer skips the entry holding its own key.
    `,
    examples: [
      ['Make the key of this peer', '$0 keygen ~/.config/realize/id_ed25519'],
      ['Set the comment of the public line', '$0 keygen -C laptop ~/.config/realize/id_ed25519'],
    ],
  });

  comment = Option.String('-C,--comment', { description: 'comment at the end of the public line (default USER@HOST)' });
  file = Option.String({ name: 'FILE' });

  async run(): Promise<number> {
    const line = await writeNewKey(this.file, this.comment ?? defaultComment());
    this.context.stdout.write(line + '\n');
    return 0;
  }
}

function defaultComment(): string {
  let user = process.env.USER ?? '';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry: keep $USER
  }
  return user ? `${user}@${hostname()}` : hostname();
}

await runCli('realize-serve', [ServeCommand, KeygenCommand]);
