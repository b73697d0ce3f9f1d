#!/usr/bin/env node
// realize-sync. What it needs to start ssh for a HOST:PATH end, or to dial a
// configured peer, is imported here; the rest (the move algorithm, the
// protocol, the output) is loaded once they are on their way, so their
// handshakes overlap that loading.
import { Command, Option } from 'clipanion';
import { loadConfig } from '../lib/config/index.js';
import { parseAddress } from '../lib/model/address.js';
import { RealizeError } from '../lib/model/errors.js';
import { parseDuration, parseRate, parseSize } from '../lib/model/units.js';
import { dialFirst, hangUpDialed } from '../lib/sync/dial.js';
import { parseEndpoints } from '../lib/sync/endpoint.js';
import type { SyncMetrics } from '../lib/sync/metrics.js';
import { RealizeCommand, runCli } from '../lib/ui/cli.js';
import { EXIT, reportError } from '../lib/ui/exit.js';

class SyncCommand extends RealizeCommand {
  static override paths = [Command.Default];
  static override usage = Command.Usage({
    description: 'move (or copy) a tree to or from a peer',
    details: `
      Afterwards every regular file of SRC is in DST, verified with BLAKE3, and gone from SRC (kept with --copy). A source file is deleted only once its copy is verified and only if it did not change meanwhile. Partial files (\`.NAME.part\`) make every run resumable: run the same command again after an interruption and only what is missing moves.

      SRC and DST are each a local directory, PEER:ARENA[/SUBDIR] for a peer of the config (dialed over SSH with pinned keys), or [USER@]HOST:PATH, reached by running \`ssh [USER@]HOST realize-serve --stdio --root PATH\` (see -e and --remote-serve). A ':' before any '/' makes an endpoint remote: write \`./a:b\` for a local name with a colon.

      A --copy run again is cheap: each end remembers the hashes it made (in ~/.cache/realize/hashes, a peer's daemon in its state directory) and trusts them only for the very version hashed (same inode, size, mtime and ctime; on file systems that keep a real ctime, such as ext4, XFS and Btrfs), so files that did not change are compared without being read. --rehash reads and hashes them all anew. A move always reads what it deletes.

      Symbolic links, devices, fifos, sockets and empty directories are skipped and counted, never followed. A destination file newer than its source is a conflict: both are kept and the file is reported.

      Exit status: 0 all files done; 1 error; 11 --max-duration exceeded; 12 done but the metrics push failed; 20 interrupted (partial files kept for the next run).
    `,
    examples: [
      ['Move a local folder into the "photos" arena of the configured peer "nas"', '$0 ~/Pictures/incoming nas:photos/2026'],
      ['Copy a tree to a host over plain ssh', '$0 --copy ./docs me@host:/srv/docs'],
      ['Pull at most 5 MB/s for at most one hour, as JSON lines', '$0 --json --throttle-down 5M --max-duration 1h nas:photos ./photos'],
    ],
  });

  copy = Option.Boolean('--copy', false, { description: 'keep the source files' });
  rehash = Option.Boolean('--rehash', false, { description: 'with --copy: hash every file anew, trusting no remembered hash (and remember the new ones)' });
  dryRun = Option.Boolean('-n,--dry-run', false, { description: 'list what would move; change nothing' });
  parallel = Option.String('--parallel', '4', { description: 'files in flight at once, a batch of up to 128 small files counting as one (default 4)' });
  throttle = Option.String('--throttle', { description: 'bandwidth limit in both directions, bytes/s (1M, 512k)' });
  throttleUp = Option.String('--throttle-up', { description: 'upload limit, bytes/s' });
  throttleDown = Option.String('--throttle-down', { description: 'download limit, bytes/s' });
  maxDuration = Option.String('--max-duration', { description: 'give up after this long (30s, 5m, 2h): exit 11' });
  json = Option.Boolean('--json', false, { description: 'one JSON event per line on stdout' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'print errors only' });
  verbose = Option.Boolean('-v,--verbose', false, { description: 'say more' });
  rsh = Option.String('-e,--rsh', 'ssh', { description: 'command that reaches HOST for HOST:PATH (default ssh)' });
  remoteServe = Option.String('--remote-serve', 'realize-serve', { description: 'program to run on HOST (default realize-serve)' });
  config = Option.String('--config', { description: 'config file (default $REALIZE_CONFIG, else ~/.config/realize/realize.toml)' });
  rangeSize = Option.String('--range-size', '8M', { description: 'bytes per request (a multiple of 1M, at most 32M)', hidden: true });
  metricsAddr = Option.String('--metrics-addr', { description: 'serve Prometheus metrics on HOST:PORT while running' });
  pushgateway = Option.String('--metrics-pushgateway', { description: 'push metrics to this Pushgateway URL at the end' });
  metricsJob = Option.String('--metrics-job', 'realize-sync', { description: 'job label of pushed metrics' });
  metricsInstance = Option.String('--metrics-instance', { description: 'instance label of pushed metrics' });
  src = Option.String({ name: 'SRC' });
  dst = Option.String({ name: 'DST' });

  async run(): Promise<number> {
    const parallel = Number(this.parallel);
    if (!Number.isInteger(parallel) || parallel < 1 || parallel > 256) throw new RealizeError('usage', `--parallel ${this.parallel}: use a whole number from 1 to 256`);
    const both = this.throttle !== undefined ? parseRate(this.throttle) : undefined;
    const up = this.throttleUp !== undefined ? parseRate(this.throttleUp) : both;
    const down = this.throttleDown !== undefined ? parseRate(this.throttleDown) : both;
    const maxDurationMs = this.maxDuration !== undefined ? parseDuration(this.maxDuration) : undefined;
    const rangeSize = parseSize(this.rangeSize, '--range-size');
    if (rangeSize % (1 << 20) !== 0 || rangeSize === 0 || rangeSize > 32 << 20) throw new RealizeError('usage', '--range-size must be a multiple of 1M, at most 32M');
    const config = await loadConfig({ path: this.config });
    const metricsAddr = this.metricsAddr !== undefined ? parseAddress(this.metricsAddr, { defaultPort: 9100 }) : undefined;
    const [srcSpec, dstSpec] = parseEndpoints(this.src, this.dst, config);

    // Remote ends' transports start before the rest loads; runSync takes them over.
    const dialed = dialFirst(srcSpec, dstSpec, this.rsh, this.remoteServe, config);
    let metrics: SyncMetrics | undefined;
    let run: typeof import('../lib/sync/run.js');
    let out: typeof import('../lib/ui/sync-output.js');
    try {
      [run, out] = await Promise.all([import('../lib/sync/run.js'), import('../lib/ui/sync-output.js')]);
      // prom-client is loaded only when metrics are asked for.
      metrics = metricsAddr || this.pushgateway ? new (await import('../lib/sync/metrics.js')).SyncMetrics() : undefined;
      if (metrics && metricsAddr) await metrics.serve(metricsAddr);
    } catch (err) {
      hangUpDialed(dialed);
      metrics?.close();
      throw err;
    }

    const output = this.json ? out.jsonOutput(process.stdout) : out.humanOutput(process.stdout, process.stderr, { quiet: this.quiet, verbose: this.verbose, copy: this.copy });
    const interrupt = new AbortController();
    const onSignal = () => {
      if (interrupt.signal.aborted) process.exit(EXIT.interrupted);
      interrupt.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const status = await run.runSync({
        src: this.src,
        dst: this.dst,
        copy: this.copy,
        rehash: this.rehash,
        dryRun: this.dryRun,
        parallel,
        throttleUp: up,
        throttleDown: down,
        maxDurationMs,
        rsh: this.rsh,
        remoteServe: this.remoteServe,
        config,
        rangeSize,
        signal: interrupt.signal,
        emit: (e) => output.write(e),
        metrics,
        dialed,
      });
      if (status === 'interrupted') return EXIT.interrupted;
      if (status === 'timeout') return EXIT.timeout;
      if (metrics && this.pushgateway) {
        try {
          await metrics.push(this.pushgateway, this.metricsJob, this.metricsInstance);
        } catch (err) {
          reportError('realize-sync', err);
          return status === 'ok' ? EXIT.metrics : EXIT.error;
        }
      }
      return status === 'ok' ? EXIT.ok : EXIT.error;
    } finally {
      output.close();
      metrics?.close();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

await runCli('realize-sync', [SyncCommand]);
// Everything is done: once what was said has left (a pipe to a slow reader
// holds the rest in Node's queue), exit now rather than after tearing down
// the heap, which takes longer than the last batch of small files took to move.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise((resolve) => s.write('', resolve))));
process.exit();
