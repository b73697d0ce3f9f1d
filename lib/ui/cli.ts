// The one place that runs a bin's clipanion commands and turns errors into a
// single line on stderr and an exit status.
import { readFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import { Builtins, Cli, Command, type CommandClass } from 'clipanion';
import { RealizeError, firstLine } from '../model/errors.js';
import { EXIT, reportError } from './exit.js';

export function packageVersion(): string {
  const url = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

/** Base of every Realize command: `run()` returns the exit status; errors become one line. */
export abstract class RealizeCommand extends Command {
  abstract run(): Promise<number>;
  async execute(): Promise<number> {
    try {
      return await this.run();
    } catch (err) {
      return reportError(this.cli.binaryName, err);
    }
  }
}

export function notImplemented(feature: string): never {
  throw new RealizeError('not_implemented', `${feature}: not implemented yet`);
}

/** `--version` only: clipanion's builtin also takes `-v`, which is our --verbose. */
class VersionCommand extends Command {
  static override paths = [['--version']];
  async execute(): Promise<number> {
    this.context.stdout.write(`${this.cli.binaryVersion ?? packageVersion()}\n`);
    return 0;
  }
}

export async function runCli(binaryName: string, commands: CommandClass[], argv = process.argv.slice(2)): Promise<void> {
  const cli = new Cli({ binaryName, binaryLabel: binaryName, binaryVersion: packageVersion(), enableCapture: false, enableColors: isatty(1) });
  for (const c of commands) cli.register(c);
  cli.register(Builtins.HelpCommand);
  cli.register(VersionCommand);
  let command: Command;
  try {
    command = cli.process(argv);
  } catch (err) {
    // Usage errors from clipanion: one line, plus a hint.
    process.stderr.write(`${binaryName}: ${firstLine(err instanceof Error ? err.message : String(err))}\n`);
    process.stderr.write(`Try '${binaryName} --help'.\n`);
    process.exitCode = EXIT.error;
    return;
  }
  process.exitCode = await cli.run(command);
}
