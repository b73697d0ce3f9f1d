// Where the config and the state live: --config, $REALIZE_CONFIG, then the
// XDG base directories.
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** The config file to read: `flag` (--config), else $REALIZE_CONFIG, else $XDG_CONFIG_HOME/realize/realize.toml. */
export function resolveConfigPath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return resolve(expandHome(flag, env));
  if (env.REALIZE_CONFIG) return resolve(expandHome(env.REALIZE_CONFIG, env));
  return join(xdgDir(env, 'XDG_CONFIG_HOME', '.config'), 'realize', 'realize.toml');
}

/** The default state directory: $XDG_STATE_HOME/realize, else ~/.local/state/realize. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(xdgDir(env, 'XDG_STATE_HOME', join('.local', 'state')), 'realize');
}

/** Where a process without a config keeps the hashes it remembers: $XDG_CACHE_HOME/realize/hashes, else ~/.cache/realize/hashes. */
export function defaultHashCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(xdgDir(env, 'XDG_CACHE_HOME', '.cache'), 'realize', 'hashes');
}

/** Resolves a path from the config: `~/` is the home directory, relative paths are relative to `base`. */
export function resolveConfigRelative(base: string, path: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(base, expandHome(path, env));
}

function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  if (path === '~') return home(env);
  if (path.startsWith('~/')) return join(home(env), path.slice(2));
  return path;
}

function home(env: NodeJS.ProcessEnv): string {
  return env.HOME && isAbsolute(env.HOME) ? env.HOME : homedir();
}

/** An XDG base directory; relative values are ignored, as the spec says. */
function xdgDir(env: NodeJS.ProcessEnv, variable: string, fallback: string): string {
  const value = env[variable];
  return value && isAbsolute(value) ? value : join(home(env), fallback);
}
