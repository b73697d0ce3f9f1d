// realize-serve --stdio: one session on stdin/stdout, the caller
// authenticated by whoever started the process (sshd, a pipe). Kept apart
// from the daemon so what `ssh host realize-serve --stdio` loads stays small:
// it starts once per realize-sync run.
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import type { Config } from '../config/index.js';
import type { RealizeError } from '../model/errors.js';
import type { Logger } from '../model/log.js';
import { isProbeName } from '../model/path.js';
import { formatSize } from '../model/units.js';
import { ROOT_ARENA as STDIO_ARENA, realizeHandler, type ServiceEvent } from '../protocol/realize-service.js';
import { Session } from '../protocol/session.js';
import { defaultHashCacheDir } from '../config/paths.js';
import { hashCacheAt } from '../storage/hash-cache.js';
import { RealStore } from '../storage/real.js';
import { checkArenaRoot } from '../storage/resolve.js';
import { stdioStream } from '../transport/stdio.js';

/** The Real serving the config's arenas, remembering hashes in its state directory. */
export function storeOf(config: Config): RealStore {
  const roots = new Map<string, string>();
  for (const a of config.arenas.values()) if (a.path) roots.set(a.name, a.path);
  return new RealStore(roots, { hashCache: hashCacheAt(join(config.state, 'hashes')) });
}

/** One log line per file made final or deleted by `peer`. */
export function logChange(log: Logger, peer: string) {
  return (e: ServiceEvent) => {
    if (isProbeName(basename(e.path))) return log.debug(`probe ${e.method === 'finish' ? 'made' : 'deleted'}: ${e.arena}/${e.path} by ${peer}`);
    if (e.method === 'finish') log.info(`final ${e.arena}/${e.path} ${formatSize(e.size ?? 0)} ${e.root ? 'BLAKE3 ' + e.root + ' ' : ''}by ${peer}`);
    else log.info(`deleted ${e.arena}/${e.path} by ${peer}`);
  };
}

export async function serveStdio(opts: { root?: string; configPath?: string; log: Logger }): Promise<void> {
  let store: RealStore;
  if (opts.root !== undefined) {
    store = new RealStore(new Map([[STDIO_ARENA, opts.root]]), { hashCache: hashCacheAt(defaultHashCacheDir()) });
    // As rsync, a destination directory is made if its parent exists.
    await mkdir(opts.root).catch(() => {});
    await checkArenaRoot(STDIO_ARENA, opts.root);
  } else {
    // The config (and its TOML parser) only when there is no --root.
    const { loadConfig } = await import('../config/index.js');
    store = storeOf(await loadConfig({ path: opts.configPath }));
  }
  const granted = new Set(store.arenas());
  const session = new Session(stdioStream(), {
    hello: { peer: hostname(), arenas: [...granted] },
    // A session for one realize-sync, which shows only what went wrong: its
    // stderr crosses back over ssh, so file-by-file lines wait for REALIZE_LOG=debug.
    handler: realizeHandler(store, granted, logChange({ ...opts.log, info: opts.log.debug }, 'stdio')),
  });
  await new Promise<void>((resolve, reject) => {
    session.on('close', (err?: RealizeError) => (err && err.code !== 'network' ? reject(err) : resolve()));
  });
}
