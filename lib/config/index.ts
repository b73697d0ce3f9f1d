// lib/config: the TOML household and local settings of DESIGN §3. Uses only
// lib/model (validation of names, keys, addresses, sizes) and smol-toml.
export { loadConfig, parseConfig, findPeerByKey, findPeerByName, requirePeer, requireArena, DEFAULT_CACHE_SIZE, DEFAULT_LISTEN } from './load.js';
export type { Config, LoadConfigOptions } from './load.js';
export { resolveConfigPath, defaultStateDir, resolveConfigRelative } from './paths.js';
