#!/usr/bin/env node
// realize-serve. The exact command line realize-sync runs over ssh for a
// HOST:PATH end, `realize-serve --stdio --root PATH`, is served without
// loading the option parser: every such run waits for this process to
// start, and clipanion is a third of its start. Any other command line,
// --stdio ones included, goes through the commands of lib/ui/serve-command.
const argv = process.argv.slice(2);
if (argv.length === 3 && argv[0] === '--stdio' && argv[1] === '--root') {
  const [{ serveStdio }, { createLogger }, { reportError }] = await Promise.all([
    import('../lib/daemon/stdio.js'),
    import('../lib/model/log.js'),
    import('../lib/ui/exit.js'),
  ]);
  try {
    await serveStdio({ root: argv[2], log: createLogger() });
  } catch (err) {
    process.exitCode = reportError('realize-serve', err);
  }
} else {
  const { runServeCli } = await import('../lib/ui/serve-command.js');
  await runServeCli(argv);
}
