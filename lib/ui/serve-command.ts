// realize-serve's commands: the daemon, --stdio and keygen (DESIGN §2).
import { hostname, userInfo } from 'node:os';
import { Command, Option } from 'clipanion';
import { RealizeCommand, runCli } from './cli.js';
import { reportError } from './exit.js';
import { parseAddress } from '../model/address.js';
import { RealizeError } from '../model/errors.js';
import { createLogger } from '../model/log.js';
import { sdNotify } from '../native.js';

class ServeCommand extends RealizeCommand {
  static override paths = [Command.Default];
  static override usage = Command.Usage({
    description: 'serve this peer\'s arenas to the household',
    details: `
      Listening mode (the default) speaks SSH on the config's \`listen\` address (default 127.0.0.1:9771): its host key is this peer's \`privkey\`, and a client is admitted only if its key is one of the config's \`[peers]\`, which then reaches only the arenas granted to it. Runs until SIGTERM or SIGINT (in-flight writes finish first); SIGHUP re-reads the config. Under systemd (\`Type=notify\`) it reports readiness on \`$NOTIFY_SOCKET\`.

      \`--stdio\` serves one session on stdin/stdout and exits when stdin closes: the caller was authenticated by whoever started it (sshd, a pipe). With \`--root PATH\` the session's only arena is PATH; without it, the config's arenas.

      Logs go to stderr, one line per event; REALIZE_LOG=debug says more.
    `,
    examples: [
      ['Run the daemon', '$0 --config /etc/realize/realize.toml'],
      ['Serve a directory to the process on the other end of a pipe (what realize-sync runs over ssh)', '$0 --stdio --root /srv/photos'],
    ],
  });
  config = Option.String('--config', { description: 'config file (default $REALIZE_CONFIG, else ~/.config/realize/realize.toml)' });
  listen = Option.String('--listen', { description: 'HOST:PORT to listen on, instead of the config\'s listen' });
  stdio = Option.Boolean('--stdio', false, { description: 'serve one session on stdin/stdout' });
  root = Option.String('--root', { description: 'with --stdio: serve this directory as the only arena' });

  async run(): Promise<number> {
    const log = createLogger();
    if (this.stdio) {
      // Each mode loads only what it uses: --stdio starts once per realize-sync run.
      const { serveStdio } = await import('../daemon/stdio.js');
      await serveStdio({ root: this.root, configPath: this.config, log });
      return 0;
    }
    if (this.root !== undefined) throw new RealizeError('usage', '--root only applies with --stdio');
    // Loaded only here: ssh2 and LMDB are not needed by --stdio, which starts once per realize-sync run.
    const { startDaemon } = await import('../daemon/serve.js');
    const daemon = await startDaemon({ configPath: this.config, listen: this.listen ? parseAddress(this.listen) : undefined, log });
    sdNotify('READY=1');
    return new Promise<number>((resolve) => {
      const stop = (signal: string) => {
        log.info(`${signal}: finishing in-flight requests`);
        sdNotify('STOPPING=1');
        daemon.stop().then(() => resolve(0), (err) => resolve(reportError('realize-serve', err)));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => {
        daemon.reload().catch((err: Error) => log.error(`reload failed, keeping the old config: ${err.message}`));
      });
    });
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
    const { writeNewKey } = await import('../model/keys.js');
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

export function runServeCli(argv: string[]): Promise<void> {
  return runCli('realize-serve', [ServeCommand, KeygenCommand], argv);
}
